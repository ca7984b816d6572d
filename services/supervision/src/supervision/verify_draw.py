"""Check a published draw and confirm or refute it, from the public endpoints or local files.

    python -m supervision.verify_draw --url http://127.0.0.1:8003 --campaign ID
    python -m supervision.verify_draw --record record.json --snapshot snapshot.json
    python -m supervision.verify_draw --snapshot snapshot.json --result result.json --seed SEED [--hash HEX]

With the public record (the first two forms) every check of DRAW.md is made: the snapshot's
hash, each reveal against its commitment, the order in time of commitments, freeze, reveals,
deadline and beacon, the seed's derivation, and the re-run. The third form re-runs a result
from a seed and a snapshot only. Prints CONFIRMED (exit 0) or REFUTED with every failure
(exit 1); 2 when the published data cannot be read. Only the standard library and
`supervision.domain.draw` / `draw_record` are used, so anyone can run it without a token or
the platform's dependencies beyond this package.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TextIO

from conformity_shared.errors import DomainError

from supervision.domain.draw import ALGORITHM, DrawResult, Snapshot, Verification, verify
from supervision.domain.draw_record import RecordVerification, verify_record


@dataclass(frozen=True)
class PublishedDraw:
    """What a campaign publishes: the seed, the snapshot hash and bytes, the result, and the
    whole record (parties, commitments, reveals, freeze, deadline, beacon) when it is at hand."""

    seed: str
    snapshot: bytes
    result: bytes
    snapshot_hash: str | None = None  # the hash published on its own, when there is one
    algorithm: str | None = None
    record: Mapping[str, Any] | None = None


def check(published: PublishedDraw) -> Verification | RecordVerification:
    """Check a published draw: its whole record when there is one (`draw_record.verify_record`),
    otherwise the re-run of its result from the seed and snapshot."""
    if published.record is not None:
        verification = verify_record(published.record, published.snapshot)
        if published.algorithm is not None and published.algorithm != ALGORITHM:
            difference = f"the draw was published with algorithm {published.algorithm!r}, this is {ALGORITHM!r}"
            return replace(verification, ok=False, differences=(difference, *verification.differences))
        return verification
    return rerun(published)


def rerun(published: PublishedDraw) -> Verification:
    """Re-run the draw from the published seed and snapshot and compare with the published result.

    Besides `draw.verify`, checks that the snapshot bytes hash to the published hash and
    are canonical (so the hash identifies exactly this document).
    """
    differences: list[str] = []
    digest = hashlib.sha256(published.snapshot).hexdigest()
    if published.snapshot_hash is not None and published.snapshot_hash != digest:
        differences.append(f"the snapshot bytes hash to {digest}, the published hash is {published.snapshot_hash}")
    if published.algorithm is not None and published.algorithm != ALGORITHM:
        differences.append(f"the draw was published with algorithm {published.algorithm!r}, this is {ALGORITHM!r}")
    try:
        snapshot = Snapshot.from_json(published.snapshot)
        result = DrawResult.from_json(published.result)
    except (DomainError, ValueError, KeyError, TypeError) as exc:
        return Verification(False, digest, (*differences, f"the published documents cannot be read: {exc}"))
    if snapshot.hash != digest:
        differences.append("the snapshot is not in canonical form (its canonical bytes hash differently)")
    report = verify(published.seed, snapshot, result)
    return Verification(not differences and report.ok, report.snapshot_hash, (*differences, *report.differences))


def _http_get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=120) as answer:  # noqa: S310 - a URL the user gives
        return answer.read()


def fetch(base_url: str, campaign_id: str, get: Callable[[str], bytes] = _http_get) -> PublishedDraw:
    """Download a campaign's published draw and snapshot from the public endpoints (no token)."""
    base = base_url.rstrip("/") + "/"
    draw_url = urllib.parse.urljoin(base, f"public/campaigns/{urllib.parse.quote(campaign_id, safe='')}/draw")
    document = json.loads(get(draw_url))
    snapshot = get(urllib.parse.urljoin(base, document["snapshot_url"].lstrip("/")))
    return PublishedDraw(
        seed=document["seed"],
        snapshot=snapshot,
        result=json.dumps(document["result"], ensure_ascii=False).encode("utf-8"),
        snapshot_hash=document["snapshot_hash"],
        algorithm=document["algorithm"],
        record=document,
    )


def report(verification: Verification | RecordVerification, out: TextIO | None = None) -> int:
    """Print CONFIRMED or REFUTED with the differences (and any note); return the exit code."""
    out = out or sys.stdout
    if verification.ok:
        print(f"CONFIRMED: the published draw checks out and re-runs exactly (snapshot {verification.snapshot_hash})",
              file=out)
    else:
        print(f"REFUTED: the published draw does not check out (snapshot {verification.snapshot_hash})", file=out)
        for difference in verification.differences:
            print(f"  - {difference}", file=out)
    for note in getattr(verification, "notes", ()):
        print(f"note: {note}", file=out)
    return 0 if verification.ok else 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m supervision.verify_draw",
        description="Check a published 'double random' draw and confirm or refute it.",
    )
    remote = parser.add_argument_group("from the public endpoints")
    remote.add_argument("--url", help="the supervision service, e.g. http://127.0.0.1:8003")
    remote.add_argument("--campaign", help="the campaign id")
    local = parser.add_argument_group("from local files")
    local.add_argument("--record", type=Path, help="the published record (GET /public/campaigns/{id}/draw)")
    local.add_argument("--snapshot", type=Path, help="the snapshot's canonical bytes (JSON)")
    local.add_argument("--result", type=Path, help="the published result (JSON), to re-run with --seed")
    local.add_argument("--seed", help="the published seed, to re-run --result")
    local.add_argument("--hash", dest="snapshot_hash", help="the published snapshot hash (optional)")
    return parser


def _from_files(args: argparse.Namespace, parser: argparse.ArgumentParser) -> PublishedDraw:
    """The published draw from local files: a record and its snapshot, or a result, a seed and a snapshot."""
    if args.record:
        if not args.snapshot or args.result or args.seed is not None:
            parser.error("--record goes with --snapshot (and no --result or --seed)")
        record = json.loads(args.record.read_bytes())
        return PublishedDraw(
            seed=record.get("seed") or "", snapshot=args.snapshot.read_bytes(),
            result=json.dumps(record.get("result"), ensure_ascii=False).encode("utf-8"),
            snapshot_hash=args.snapshot_hash, algorithm=record.get("algorithm"), record=record,
        )
    if not (args.snapshot and args.result and args.seed is not None):
        parser.error("give --url and --campaign, --record and --snapshot, or --snapshot, --result and --seed")
    return PublishedDraw(
        seed=args.seed, snapshot=args.snapshot.read_bytes(), result=args.result.read_bytes(),
        snapshot_hash=args.snapshot_hash,
    )


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.url or args.campaign:
        if not (args.url and args.campaign):
            parser.error("--url and --campaign go together")
        if args.snapshot or args.result or args.seed or args.record:
            parser.error("give either --url/--campaign or local files, not both")
        try:
            published = fetch(args.url, args.campaign)
        except (urllib.error.URLError, OSError, ValueError, KeyError) as exc:
            print(f"could not read the published draw: {exc}", file=sys.stderr)
            return 2
    else:
        try:
            published = _from_files(args, parser)
        except (OSError, ValueError) as exc:
            print(f"could not read the files: {exc}", file=sys.stderr)
            return 2
    return report(check(published))


if __name__ == "__main__":
    sys.exit(main())
