"""The public record of a draw no one can steer: commit, freeze, reveal, beacon (DRAW.md).

Every party (the regulator and at least one outside observer) commits to a secret before the
directories are frozen; the frozen snapshot's hash is published; the parties reveal their
secrets before a deadline; an outside institution publishes a random beacon after it. The
seed is derived from the snapshot hash, every party's secret and the beacon
(``derive_seed``, "draw-seed-v1"), and the draw (``draw.py``, unchanged) runs on it.

``verify_record`` checks a published record and its snapshot bytes from public data alone:
the snapshot's hash, every reveal against its commitment, the order in time (commitments,
then the freeze, then the reveals by the deadline, then the beacon), the seed's derivation,
and the draw's re-run. Pure Python, standard library and ``draw.py`` only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from conformity_shared.errors import DomainError

from supervision.domain.draw import ALGORITHM, RESULT_FORMAT, SNAPSHOT_FORMAT, Snapshot, verify

RECORD_FORMAT = "supervision.draw-record.v1"
SEED_DERIVATION = "draw-seed-v1"
SEED_DOMAIN = "supervision.draw-seed.v1"
# How the seed was fixed: derived from commitments, reveals and a beacon; or, for campaigns
# drawn before commit-reveal, published by the regulator when the campaign was created.
COMMIT_REVEAL_BEACON = "commit-reveal-beacon-v1"
PUBLISHED_SEED = "published-seed-v1"
REGULATOR_PARTY = "regulator"
SECRET_MIN_LENGTH = 32


def commitment(party: str, secret: str) -> str:
    """What a party publishes before the freeze: lowercase hex SHA-256(UTF-8(party) 0x00 UTF-8(secret))."""
    return hashlib.sha256(party.encode("utf-8") + b"\x00" + secret.encode("utf-8")).hexdigest()


def derive_seed(snapshot_hash: str, secrets: Mapping[str, str], beacon_value: str) -> str:
    """The draw's seed (draw-seed-v1): lowercase hex SHA-256 of

        "supervision.draw-seed.v1" 0x0A  snapshot_hash 0x0A
        for each party in party-id (code point) order: party 0x00 secret 0x0A
        beacon_value

    A party that withheld its secret counts with the empty string.
    """
    digest = hashlib.sha256(SEED_DOMAIN.encode("ascii") + b"\n" + snapshot_hash.encode("ascii") + b"\n")
    for party in sorted(secrets):
        digest.update(party.encode("utf-8") + b"\x00" + secrets[party].encode("utf-8") + b"\n")
    digest.update(beacon_value.encode("utf-8"))
    return digest.hexdigest()


def secret_problem(secret: str) -> str | None:
    """Why a secret cannot be revealed (None when it can): long enough, and one line of text."""
    if len(secret) < SECRET_MIN_LENGTH:
        return f"a secret has at least {SECRET_MIN_LENGTH} characters (32 random bytes in hex are recommended)"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in secret):
        return "a secret has no control characters (no NUL, no line break): the seed's input is line-delimited"
    return None


# --- the record ----------------------------------------------------------------------


@dataclass(frozen=True)
class Party:
    """One party of a campaign: its commitment and, later, its reveal (or that it withheld it)."""

    id: str
    commitment: str | None = None
    committed_at: dt.datetime | None = None
    secret: str | None = None
    revealed_at: dt.datetime | None = None
    withheld: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "party": self.id, "commitment": self.commitment, "committed_at": _instant(self.committed_at),
            "secret": self.secret, "revealed_at": _instant(self.revealed_at), "withheld": self.withheld,
        }


@dataclass(frozen=True)
class Beacon:
    """A public random value an outside institution publishes at a stated time, after the reveal deadline."""

    source: str
    due: dt.datetime
    value: str | None = None
    recorded_at: dt.datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source, "due": _instant(self.due), "value": self.value,
            "recorded_at": _instant(self.recorded_at),
        }


@dataclass(frozen=True)
class DrawRecord:
    """What a campaign publishes about its draw, as it happens (`supervision.draw-record.v1`)."""

    seed_scheme: str
    parties: tuple[Party, ...] = ()
    frozen_at: dt.datetime | None = None
    snapshot_hash: str | None = None
    reveal_deadline: dt.datetime | None = None
    beacon: Beacon | None = None
    seed: str | None = None
    result: Mapping[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "format": RECORD_FORMAT, "seed_scheme": self.seed_scheme,
            "parties": [p.to_json() for p in sorted(self.parties, key=lambda p: p.id)],
            "frozen_at": _instant(self.frozen_at), "snapshot_hash": self.snapshot_hash,
            "snapshot_format": SNAPSHOT_FORMAT, "reveal_deadline": _instant(self.reveal_deadline),
            "beacon": self.beacon.to_json() if self.beacon else None,
            "seed_derivation": SEED_DERIVATION if self.seed_scheme == COMMIT_REVEAL_BEACON else None,
            "seed": self.seed, "algorithm": ALGORITHM, "result_format": RESULT_FORMAT, "result": self.result,
        }

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> DrawRecord:
        """Read a published record; ValueError (or KeyError, TypeError) when it is malformed."""
        if document.get("format", RECORD_FORMAT) != RECORD_FORMAT:
            raise ValueError(f"not a {RECORD_FORMAT} document: format {document.get('format')!r}")
        beacon = document.get("beacon")
        return cls(
            seed_scheme=document["seed_scheme"],
            parties=tuple(
                Party(p["party"], p.get("commitment"), _parsed(p.get("committed_at")), p.get("secret"),
                      _parsed(p.get("revealed_at")), bool(p.get("withheld")))
                for p in document.get("parties") or ()
            ),
            frozen_at=_parsed(document.get("frozen_at")),
            snapshot_hash=document.get("snapshot_hash"),
            reveal_deadline=_parsed(document.get("reveal_deadline")),
            beacon=Beacon(beacon["source"], _parsed(beacon["due"]), beacon.get("value"),
                          _parsed(beacon.get("recorded_at"))) if beacon else None,
            seed=document.get("seed"),
            result=document.get("result"),
        )


def _instant(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parsed(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    instant = dt.datetime.fromisoformat(value)
    if instant.tzinfo is None:
        raise ValueError(f"instant {value!r} names no UTC offset")
    return instant


# --- verification --------------------------------------------------------------------


@dataclass(frozen=True)
class RecordVerification:
    """The outcome of checking a published record; truthy only when every check holds."""

    ok: bool
    snapshot_hash: str
    differences: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())

    def __bool__(self) -> bool:
        return self.ok


def verify_record(record: DrawRecord | Mapping[str, Any], snapshot_bytes: bytes) -> RecordVerification:
    """Check a published draw record against the published snapshot bytes; name every failure.

    A commit-reveal-beacon record is CONFIRMED only when the snapshot bytes hash to the
    published hash; every reveal matches its commitment and every commitment precedes the
    freeze; the snapshot was frozen before any reveal and every reveal is by the deadline;
    the beacon was recorded at or after its due time, which is after the reveal deadline;
    the seed is the one derived from those inputs; and the result re-runs from the seed and
    the snapshot. A record that predates commit-reveal is checked for the re-run only.
    """
    digest = hashlib.sha256(snapshot_bytes).hexdigest()
    try:
        if not isinstance(record, DrawRecord):
            record = DrawRecord.from_json(record)
        snapshot = Snapshot.from_json(snapshot_bytes)
    except (DomainError, ValueError, KeyError, TypeError, AttributeError) as exc:
        return RecordVerification(False, digest, (f"the published record or snapshot cannot be read: {exc}",))
    differences = _snapshot_differences(record, snapshot, digest)
    notes: tuple[str, ...] = ()
    if record.seed_scheme == COMMIT_REVEAL_BEACON:
        differences += _party_differences(record) + _timing_differences(record) + _seed_differences(record)
    elif record.seed_scheme == PUBLISHED_SEED:
        notes = ("this record predates commit-reveal: its seed was published when the campaign was created, "
                 "so only the re-run from that seed and the snapshot is checked",)
    else:
        differences.append(f"unknown seed scheme {record.seed_scheme!r}")
    differences += _rerun_differences(record, snapshot)
    return RecordVerification(not differences, digest, tuple(differences), notes)


def _snapshot_differences(record: DrawRecord, snapshot: Snapshot, digest: str) -> list[str]:
    differences = []
    if record.snapshot_hash != digest:
        differences.append(
            f"the snapshot bytes hash to {digest}, the published snapshot hash is {record.snapshot_hash}"
        )
    if snapshot.hash != digest:
        differences.append("the snapshot is not in canonical form (its canonical bytes hash differently)")
    return differences


def _party_differences(record: DrawRecord) -> list[str]:
    """Every party committed before the freeze; a reveal matches its commitment; the rest withheld."""
    differences = []
    if REGULATOR_PARTY not in {p.id for p in record.parties} or len(record.parties) < 2:
        differences.append("the parties are not the regulator and at least one outside observer")
    for party in record.parties:
        if party.commitment is None or party.committed_at is None:
            differences.append(f"party {party.id} has no commitment")
            continue
        if record.frozen_at is not None and party.committed_at > record.frozen_at:
            differences.append(f"party {party.id} committed at {_instant(party.committed_at)}, after the freeze")
        if party.secret is not None and commitment(party.id, party.secret) != party.commitment:
            differences.append(f"the reveal of party {party.id} does not match its commitment")
        if (party.secret is None) == (not party.withheld) and record.result is not None:
            differences.append(f"party {party.id} is neither revealed nor withheld, or both")
    return differences


def _timing_differences(record: DrawRecord) -> list[str]:
    """Freeze, then reveals by the deadline, then the beacon once due, and due after the deadline."""
    if record.frozen_at is None or record.reveal_deadline is None or record.beacon is None:
        return ["the record lacks the freeze, the reveal deadline or the beacon"]
    differences = []
    if record.frozen_at >= record.reveal_deadline:
        differences.append(f"the snapshot was frozen at {_instant(record.frozen_at)}, after the reveal deadline")
    for party in record.parties:
        if party.revealed_at is None:
            continue
        if party.revealed_at < record.frozen_at:
            differences.append(
                f"the snapshot was frozen at {_instant(record.frozen_at)}, after party {party.id} revealed "
                f"its secret at {_instant(party.revealed_at)}"
            )
        if party.revealed_at > record.reveal_deadline:
            differences.append(f"party {party.id} revealed at {_instant(party.revealed_at)}, after the reveal deadline")
    beacon = record.beacon
    if beacon.due <= record.reveal_deadline:
        differences.append(f"the beacon is due at {_instant(beacon.due)}, not after the reveal deadline")
    if beacon.recorded_at is not None and beacon.recorded_at < beacon.due:
        differences.append(f"the beacon was recorded at {_instant(beacon.recorded_at)}, before it was due")
    return differences


def _seed_differences(record: DrawRecord) -> list[str]:
    if record.result is None:
        return []
    if record.beacon is None or record.beacon.value is None or record.snapshot_hash is None:
        return ["the record lacks the beacon value or the snapshot hash the seed is derived from"]
    secrets = {p.id: p.secret or "" for p in record.parties}
    derived = derive_seed(record.snapshot_hash, secrets, record.beacon.value)
    if record.seed != derived:
        return [f"the seed {record.seed!r} is not the one derived from the published inputs ({derived})"]
    return []


def _rerun_differences(record: DrawRecord, snapshot: Snapshot) -> list[str]:
    if record.result is None:
        return []  # not drawn yet: nothing to re-run
    if record.seed is None:
        return ["the record has a result but no seed"]
    report = verify(record.seed, snapshot, json.dumps(record.result, ensure_ascii=False))
    return list(report.differences)


def withheld_parties(parties: Iterable[Party]) -> tuple[str, ...]:
    """The parties that did not reveal, by id."""
    return tuple(sorted(p.id for p in parties if p.secret is None))
