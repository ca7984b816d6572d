"""`conformity verify-certificate`: a PDF or a credential from the certificates service (in
process, its database migrated, no broker) checked online and offline; a changed claim, an
unknown key and a development key without leave are refused."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conformity_shared import events
from conformity_devstack import testing
from conformity_devstack.factories import agency, approval_granted, certificate_request, new_uscc

from certificates import consumers, service
from certificates.app import create_app
from certificates.commands import IssueCertificate, SuspendCertificate
from certificates.settings import CertificatesSettings
from conformity_operators import certificate_verification as verification
from conformity_operators.cli import app as cli


async def _deliver(runtime, event: events.Event) -> None:
    async with runtime.unit_of_work() as uow:
        uow.cause_event_id = str(uuid.uuid4())
        await consumers.handlers(runtime)[type(event)](uow, event)
        await uow.commit()


@pytest.fixture
async def issued(tmp_path: Path):
    """(client on the certificates app, runtime, body, number, PDF bytes, credential)."""
    settings = testing.unit_settings(CertificatesSettings, tmp_path)
    async with testing.migrated_app(create_app, settings) as app, testing.client_of(app) as client:
        runtime = app.state.runtime
        body = new_uscc()
        await _deliver(runtime, approval_granted(body, ["MS-QMS"]))
        number = (await service.issue(runtime, agency(body), IssueCertificate(**certificate_request(new_uscc()))))["number"]
        pdf = (await client.get(f"/public/certificates/{number}/document.pdf")).content
        credential = (await client.get(f"/public/certificates/{number}/credential")).text
        yield client, runtime, body, number, pdf, credential


async def test_a_pdf_verifies_online_with_every_check_passed(issued) -> None:
    client, *_, pdf, _ = issued
    report = await verification.verify_certificate(pdf, http=client, keys_url="http://service/.well-known/jwks.json",
                                                   allow_development_keys=True)
    assert report.as_dict()["verdict"] == "valid", report.as_dict()
    assert [c.name for c in report.checks] == ["signature", "validity", "status (suspension)", "status (revocation)"]


async def test_a_suspended_certificate_fails_its_status_check_online(issued) -> None:
    client, runtime, body, number, pdf, _ = issued
    await service.suspend(runtime, agency(body), SuspendCertificate(number=number, reason="misuse"))
    report = await verification.verify_certificate(pdf, http=client, keys_url="http://service/.well-known/jwks.json",
                                                   allow_development_keys=True)
    outcomes = {c.name: c.outcome for c in report.checks}
    assert outcomes == {"signature": "passed", "validity": "passed", "status (suspension)": "failed",
                        "status (revocation)": "passed"}
    assert report.as_dict()["verdict"] == "invalid"


async def test_offline_says_what_it_could_not_check(issued, tmp_path: Path) -> None:
    client, *_, pdf, credential = issued
    report = await verification.verify_certificate(pdf, http=None, keys_url=None, allow_development_keys=True)
    outcomes = {c.name: c.outcome for c in report.checks}
    assert outcomes == {"signature": "not checked", "validity": "passed", "status (suspension)": "not checked",
                        "status (revocation)": "not checked"}
    assert report.as_dict()["verdict"] == "incomplete"
    jwks = (await client.get("/.well-known/jwks.json")).json()
    with_keys = await verification.verify_certificate(credential.encode(), http=None, keys_url=None, jwks=jwks,
                                                      allow_development_keys=True)
    assert {c.name: c.outcome for c in with_keys.checks}["signature"] == "passed"


async def test_a_changed_claim_and_a_development_key_without_leave_are_refused(issued) -> None:
    client, *_, credential = issued
    jwks = (await client.get("/.well-known/jwks.json")).json()
    header, payload, signature = credential.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["credentialSubject"]["certificate"]["product"] = "Something else entirely"
    forged = ".".join([header, base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("="), signature])
    report = await verification.verify_certificate(forged.encode(), http=None, keys_url=None, jwks=jwks,
                                                   allow_development_keys=True)
    assert {c.name: c.outcome for c in report.checks}["signature"] == "failed"
    strict = await verification.verify_certificate(credential.encode(), http=None, keys_url=None, jwks=jwks)
    signature_check = next(c for c in strict.checks if c.name == "signature")
    assert signature_check.outcome == "failed" and "development key" in signature_check.detail


async def test_the_cli_exits_by_verdict_and_refuses_a_file_that_is_no_certificate(issued, tmp_path: Path) -> None:
    client, *_, pdf, _ = issued
    jwks_file, pdf_file, other = tmp_path / "jwks.json", tmp_path / "c.pdf", tmp_path / "notes.txt"
    jwks_file.write_text((await client.get("/.well-known/jwks.json")).text)
    pdf_file.write_bytes(pdf)
    other.write_text("hello")
    runner = CliRunner()
    # The command runs its own event loop: off this test's loop, as from a terminal.
    offline = await asyncio.to_thread(runner.invoke, cli, ["verify-certificate", str(pdf_file), "--offline", "--jwks", str(jwks_file),
                                  "--allow-development-keys", "--json"])
    assert offline.exit_code == 4, offline.output
    assert json.loads(offline.output)["verdict"] == "incomplete"
    refused = await asyncio.to_thread(runner.invoke, cli, ["verify-certificate", str(other), "--offline"])
    assert refused.exit_code == 1 and "neither a PDF nor a credential" in refused.output
