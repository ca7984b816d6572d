"""The public record of a draw and its verification: every failure DRAW.md lists is refuted and
named, and a record is CONFIRMED only when all checks hold."""

from __future__ import annotations

import copy
import datetime as dt
import json
from typing import Any

import pytest

from conformity_shared.events import CreditClass, OrganisationKind
from supervision.domain import Campaign, CampaignParameters
from supervision.domain.draw import Inspector, Snapshot, Target, draw
from supervision.domain.draw_record import (
    COMMIT_REVEAL_BEACON,
    PUBLISHED_SEED,
    commitment,
    derive_seed,
    verify_record,
)

T0 = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)
MINUTE = dt.timedelta(minutes=1)
NOTARY = "notary-fuzhou"
SECRETS = {NOTARY: "c0ffee" * 6, "regulator": "0123456789abcdef" * 4}


def drawn_campaign() -> tuple[Campaign, dict[str, Any], bytes]:
    """A campaign of the regulator and the notary office, committed, frozen, revealed and drawn:
    the campaign, its result and its snapshot bytes."""
    parameters = CampaignParameters(kinds=frozenset(OrganisationKind), ratios={"A": "0.5", "B": "1", "C": "1", "D": "1"})
    created = Campaign.create("CAMP-1", "2026 H2", parameters, [NOTARY], T0 + 60 * MINUTE, "3D lottery", T0 + 120 * MINUTE, T0)
    for party in (NOTARY, "regulator"):
        created = created.commit(party, commitment(party, SECRETS[party]), T0 + MINUTE)
    targets = [Target(f"KA-{i:02d}", OrganisationKind.ENTERPRISE, f"Known {i}", CreditClass.A) for i in range(6)]
    inspectors = [Inspector(f"INS-{i}", f"Inspector {i}", "91110000MA0000000X", "110000") for i in range(4)]
    frozen = created.freeze(targets, inspectors, {}, T0 + 2 * MINUTE)
    revealed = frozen.campaign
    for party in (NOTARY, "regulator"):
        revealed = revealed.reveal(party, SECRETS[party], T0 + 10 * MINUTE)
    drawn = revealed.draw(frozen.snapshot_bytes, "4 7 1", T0 + 121 * MINUTE)
    return drawn.campaign, json.loads(drawn.result.to_json()), frozen.snapshot_bytes


@pytest.fixture
def published() -> tuple[dict[str, Any], bytes]:
    """The public record of the drawn campaign (as JSON) and its snapshot bytes."""
    campaign, result, snapshot_bytes = drawn_campaign()
    return json.loads(json.dumps(campaign.record(result).to_json())), snapshot_bytes


def party(record: dict[str, Any], party_id: str) -> dict[str, Any]:
    return next(p for p in record["parties"] if p["party"] == party_id)


def refuted(record: dict[str, Any], snapshot_bytes: bytes, *words: str) -> None:
    verification = verify_record(record, snapshot_bytes)
    assert not verification.ok
    assert any(all(w in d for w in words) for d in verification.differences), verification.differences


def test_a_faithful_record_is_confirmed(published):
    record, snapshot_bytes = published
    verification = verify_record(record, snapshot_bytes)
    assert verification.ok, verification.differences
    assert record["seed_scheme"] == COMMIT_REVEAL_BEACON and record["seed_derivation"] == "draw-seed-v1"


def test_snapshot_bytes_that_do_not_hash_to_the_published_hash_are_refuted(published):
    record, snapshot_bytes = published
    changed = snapshot_bytes.replace(b'"name":"Known 1"', b'"name":"Known one"')
    refuted(record, changed, "hash", record["snapshot_hash"])


def test_a_reveal_that_does_not_match_its_commitment_is_refuted(published):
    record, snapshot_bytes = published
    party(record, NOTARY)["secret"] = "d" * 64
    refuted(record, snapshot_bytes, "reveal", NOTARY, "does not match")


def test_a_commitment_later_than_the_freeze_is_refuted(published):
    record, snapshot_bytes = published
    party(record, NOTARY)["committed_at"] = (T0 + 3 * MINUTE).isoformat()
    refuted(record, snapshot_bytes, NOTARY, "after the freeze")


def test_a_snapshot_frozen_after_a_reveal_is_refuted(published):
    record, snapshot_bytes = published
    record["frozen_at"] = (T0 + 11 * MINUTE).isoformat()
    refuted(record, snapshot_bytes, "frozen", "after party")


def test_a_reveal_after_the_reveal_deadline_is_refuted(published):
    record, snapshot_bytes = published
    party(record, "regulator")["revealed_at"] = (T0 + 61 * MINUTE).isoformat()
    refuted(record, snapshot_bytes, "regulator", "after the reveal deadline")


def test_a_beacon_recorded_before_it_was_due_is_refuted(published):
    record, snapshot_bytes = published
    record["beacon"]["recorded_at"] = (T0 + 119 * MINUTE).isoformat()
    refuted(record, snapshot_bytes, "beacon", "before it was due")


def test_a_beacon_not_due_after_the_reveal_deadline_is_refuted(published):
    record, snapshot_bytes = published
    record["beacon"]["due"] = (T0 + 60 * MINUTE).isoformat()
    refuted(record, snapshot_bytes, "beacon", "not after the reveal deadline")


def test_a_seed_not_derived_from_the_published_inputs_is_refuted(published):
    record, snapshot_bytes = published
    record["beacon"]["value"] = "4 7 2"  # another beacon value than the one the seed was derived from
    refuted(record, snapshot_bytes, "seed", "not the one derived")


def test_a_result_that_does_not_re_run_from_the_seed_and_snapshot_is_refuted(published):
    record, snapshot_bytes = published
    record["result"]["targets"][0]["inspectors"] = ["INS-8", "INS-9"]
    refuted(record, snapshot_bytes, "inspectors differ")


def test_a_party_neither_revealed_nor_withheld_is_refuted(published):
    record, snapshot_bytes = published
    party(record, NOTARY)["secret"] = None  # and not marked withheld
    refuted(record, snapshot_bytes, NOTARY, "neither revealed nor withheld")


def test_every_failure_is_named_at_once(published):
    record, snapshot_bytes = published
    forged = copy.deepcopy(record)
    party(forged, NOTARY)["secret"] = "d" * 64
    forged["frozen_at"] = (T0 + 11 * MINUTE).isoformat()
    verification = verify_record(forged, snapshot_bytes)
    assert len(verification.differences) >= 3  # the reveal, the freeze after it, the seed


def test_a_record_from_before_commit_reveal_is_checked_for_its_re_run_only(published):
    record, snapshot_bytes = published
    legacy = {"seed_scheme": PUBLISHED_SEED, "snapshot_hash": record["snapshot_hash"], "seed": "lottery 2024-05-01"}
    legacy["result"] = json.loads(draw("lottery 2024-05-01", Snapshot.from_json(snapshot_bytes)).to_json())
    verification = verify_record(legacy, snapshot_bytes)
    assert verification.ok, verification.differences
    assert any("predates commit-reveal" in n for n in verification.notes)
    legacy["result"]["targets"][0]["inspectors"] = ["INS-8", "INS-9"]
    assert not verify_record(legacy, snapshot_bytes).ok


def test_the_seed_is_derived_from_the_snapshot_hash_every_secret_in_party_order_and_the_beacon():
    digest = "ab" * 32
    seed = derive_seed(digest, {"regulator": "r" * 32, NOTARY: "n" * 32}, "4 7 1")
    assert seed == derive_seed(digest, {NOTARY: "n" * 32, "regulator": "r" * 32}, "4 7 1")  # order given is irrelevant
    assert seed != derive_seed(digest, {"regulator": "r" * 32, NOTARY: ""}, "4 7 1")  # a withheld secret changes it
    assert seed != derive_seed(digest, {"regulator": "r" * 32, NOTARY: "n" * 32}, "4 7 2")
    assert seed != derive_seed("cd" * 32, {"regulator": "r" * 32, NOTARY: "n" * 32}, "4 7 1")
