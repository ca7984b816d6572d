"""The dependency audit fails only on a vulnerability the lock could be upgraded past."""

from __future__ import annotations

from conformity_devstack.audit import failing, findings

REPORT = {
    "dependencies": [
        {"name": "clean", "version": "1.0", "vulns": []},
        {"name": "fixable", "version": "2.0", "vulns": [{"id": "PYSEC-1", "fix_versions": ["2.0.1", "2.1"]}]},
        {"name": "unfixed", "version": "3.0", "vulns": [{"id": "GHSA-x", "fix_versions": []}]},
        {"name": "skipped", "skip_reason": "not on PyPI"},
    ]
}


def test_every_advisory_is_reported_with_its_fixed_versions() -> None:
    found = findings(REPORT)
    assert [(f.package, f.vulnerability, f.fixed_in) for f in found] == [
        ("fixable", "PYSEC-1", ("2.0.1", "2.1")),
        ("unfixed", "GHSA-x", ()),
    ]
    assert str(found[0]) == "fixable 2.0: PYSEC-1 (fixed in 2.0.1, 2.1)"


def test_only_a_vulnerability_with_a_fix_available_fails_the_audit() -> None:
    assert [f.package for f in failing(findings(REPORT))] == ["fixable"]
    assert failing(findings({"dependencies": [REPORT["dependencies"][2]]})) == []
