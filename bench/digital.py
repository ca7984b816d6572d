"""Digital certificates: what signing costs at issuance and in the bulk loader, beside a raw
joserfc signing loop, and what the status lists add to a large revocation.

In this process, on SQLite (the certificates app over its migrated database, no broker: the
figures are of signing and of the status list, not of Kafka):

- raw: `joserfc.jwt.encode` of a credential-sized claim set with the same Ed25519 key, in a loop;
- issuance: `service.issue` one after another (one transaction each: number, row, history,
  outbox, status index, credential), with the signing key and, as baseline, without one;
- bulk loader: certificates with their credentials signed, against the same load without;
- revocation: `approval.revoked.v1` handled for one body's valid certificates (one conditional
  UPDATE, history and outbox rows, and the status list bits), against the same revocation of a
  data set loaded without credentials (no status list to update); and the status list update
  alone (`db.follow_statuses` of every moved index, one transaction).
"""

from __future__ import annotations

import dataclasses
import os
import time
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from joserfc import jwt

from conformity_shared import credentials, events
from conformity_devstack import testing
from conformity_devstack.factories import agency, approval_granted, certificate_request, new_uscc

from certificates import consumers, db, domain, loader, service
from certificates.app import create_app
from certificates.commands import IssueCertificate
from certificates.service.digital import Digital
from certificates.settings import CertificatesSettings
from certificates.signing import KeyRing

from bench.context import Context
from bench.report import Figure, Section, progress


async def _deliver(runtime, event: events.Event) -> None:
    async with runtime.unit_of_work() as uow:
        uow.cause_event_id = str(uuid.uuid4())
        await consumers.handlers(runtime)[type(event)](uow, event)
        await uow.commit()


def raw_signs_per_second(digital: Digital, claims: dict, n: int) -> float:
    key = digital.keys.signing
    header = {"alg": "EdDSA", "typ": "vc+jwt", "kid": key.kid}
    with credentials._quiet():
        started = time.perf_counter()
        for i in range(n):
            claims["id"] = f"urn:bench:{i}"
            jwt.encode(header, claims, key, algorithms=["EdDSA"])
        return n / (time.perf_counter() - started)


async def issuance_per_second(workdir: Path, n: int, signing: bool) -> tuple[float, dict]:
    settings = testing.unit_settings(CertificatesSettings, workdir)
    async with testing.migrated_app(create_app, settings) as app:
        runtime = app.state.runtime
        if not signing:
            unsigned = Digital(KeyRing(None), None, runtime.context.digital.zone, 60, None)
            runtime.context = dataclasses.replace(runtime.context, digital=unsigned)
        body = new_uscc()
        await _deliver(runtime, approval_granted(body, ["MS-QMS"]))
        principal, request = agency(body), IssueCertificate(**certificate_request(new_uscc()))
        last = await service.issue(runtime, principal, request)  # warm-up
        started = time.perf_counter()
        for _ in range(n):
            last = await service.issue(runtime, principal, request)
        rate = n / (time.perf_counter() - started)
        async with runtime.sessions() as session:
            token = await db.credential_token(session, last["number"])
    return rate, {"credential_bytes": len(token) if token else 0}


async def revocation(workdir: Path, count: int, digital: Digital | None) -> dict:
    settings = testing.unit_settings(CertificatesSettings, workdir)
    async with testing.migrated_app(create_app, settings) as app:
        runtime = app.state.runtime
        url = settings.resolved_database_url()
        # about 90% of the loader's mix is valid: load enough for `count` valid certificates of one body
        report = await loader.load(url, int(count / 0.9), seed=11, bodies=1, digital=digital, migrate=False)
        async with runtime.sessions() as session:
            body, approval = (await session.execute(sa.select(db.bodies.c.uscc, db.bodies.c.approval_id))).one()
            valid = await session.scalar(sa.select(sa.func.count()).select_from(db.certificates)
                                         .where(db.certificates.c.status == "valid"))
        event = events.ApprovalRevokedV1(approval_id=approval, organisation_uscc=body, kind="certification_body",
                                         reason="commitment breached")
        started = time.perf_counter()
        await _deliver(runtime, event)
        seconds = time.perf_counter() - started
        update = None
        if digital is not None:
            # the status list update alone: every moved index cleared then set again, one transaction each
            async with runtime.sessions() as session:
                rows = (await session.execute(sa.select(db.certificates.c.status_index).where(
                    db.certificates.c.suspended_by == approval))).scalars().all()
            for status in (domain.Status.VALID, domain.Status.SUSPENDED):
                async with runtime.unit_of_work() as uow:
                    started = time.perf_counter()
                    await db.follow_statuses(uow.session, body, {i: status for i in rows}, uow.clock.now())
                    await uow.commit()
                    update = time.perf_counter() - started
    return {"loaded": report.certificates, "valid_revoked": valid, "seconds": seconds, "status_list_update_seconds": update,
            "loader_seconds": report.seconds, "loader_signing_seconds": report.signing_seconds,
            "credentials": report.credentials}


# A credential of a realistic size for the raw signing loop.
SAMPLE_CLAIMS = {
    "@context": [credentials.VC_CONTEXT], "type": ["VerifiableCredential", credentials.CREDENTIAL_TYPE],
    "issuer": "https://certificates.example", "validFrom": "2026-11-26T00:00:00+08:00",
    "validUntil": "2029-11-25T23:59:59+08:00",
    "credentialSubject": {"id": "urn:uscc:91110105FQEFLCR61X", "name": "Beijing Kettle Works" * 2,
                          "certificate": {"product": "x" * 200, "standard": "GB/T 19001-2016"}},
    "credentialStatus": [{"statusListCredential": "https://certificates.example/public/status-lists/x/y" * 2}],
}


async def run(ctx: Context) -> Section:
    digital = Digital.from_settings(testing.unit_settings(CertificatesSettings, ctx.workdir("digital-keys")))
    m = await measure(ctx, digital)
    section = Section("digital")
    section.details = {
        "load_average_end": os.getloadavg(),
        "raw_signs_per_second": m["raw"], "issuance": {"signed_per_second": m["signed_rate"],
                                                       "unsigned_per_second": m["unsigned_rate"], **m["issued"]},
        "loader": {"signed": {"seconds": m["with_keys"].seconds, "signing_seconds": m["with_keys"].signing_seconds,
                              "credentials": m["with_keys"].credentials},
                   "unsigned": {"seconds": m["without"].seconds}},
        "revocation": {"with_status_lists": m["revoked"], "without": m["revoked_plain"]},
    }
    section.figures += figures(ctx.sizes.digital_loaded, m)
    return section


async def measure(ctx: Context, digital: Digital) -> dict[str, Any]:
    sizes, m = ctx.sizes, {}
    progress(f"digital: raw joserfc signing loop x{sizes.digital_raw_signs:,}")
    raw = raw_signs_per_second(digital, SAMPLE_CLAIMS, sizes.digital_raw_signs)
    progress(f"digital: {sizes.digital_issuances:,} issuances with and without signing")
    m["signed_rate"], m["issued"] = await issuance_per_second(ctx.workdir("digital-issue-signed"), sizes.digital_issuances, True)
    m["unsigned_rate"], _ = await issuance_per_second(ctx.workdir("digital-issue-unsigned"), sizes.digital_issuances, False)
    progress(f"digital: bulk loader, {sizes.digital_loaded:,} certificates with and without credentials")
    m["with_keys"] = await loader.load(testing_url(ctx, "digital-load-signed"), sizes.digital_loaded, seed=7, digital=digital)
    # The raw loop again, right after: on a shared machine the load moves, so the baseline is the
    # mean of a loop before and one after the loader's signing.
    m["raw"] = (raw + raw_signs_per_second(digital, SAMPLE_CLAIMS, sizes.digital_raw_signs)) / 2
    m["without"] = await loader.load(testing_url(ctx, "digital-load-unsigned"), sizes.digital_loaded, seed=7)
    progress(f"digital: revocation of a body with ~{sizes.digital_revoked:,} valid certificates")
    m["revoked"] = await revocation(ctx.workdir("digital-revoke-signed"), sizes.digital_revoked, digital)
    m["revoked_plain"] = await revocation(ctx.workdir("digital-revoke-unsigned"), sizes.digital_revoked, None)
    return m


def figures(loaded: int, m: dict[str, Any]) -> list[Figure]:
    with_keys, without, revoked = m["with_keys"], m["without"], m["revoked"]
    return [
        Figure("signing", "issuances per second, each signing its credential (service.issue, SQLite)", "/s",
               m["signed_rate"], m["unsigned_rate"], "the same issuances without a signing key", "higher"),
        Figure("signing", "signatures per second inside the bulk loader (build claims + sign)", "/s",
               with_keys.credentials / with_keys.signing_seconds, m["raw"], "raw joserfc jwt.encode loop, same key",
               "higher"),
        Figure("signing", f"bulk loader certificates per second with credentials ({loaded:,})", "/s",
               with_keys.certificates / with_keys.seconds, without.certificates / without.seconds,
               "the same load without credentials", "higher"),
        Figure("status list", f"revocation of {revoked['valid_revoked']:,} valid certificates, status lists included", "s",
               revoked["seconds"], m["revoked_plain"]["seconds"],
               "the same revocation with no credentials (no list to update)", "lower"),
        Figure("status list", f"status list update alone after that revocation ({revoked['valid_revoked']:,} bits)", "s",
               revoked["status_list_update_seconds"], None, "", "lower"),
    ]


def testing_url(ctx: Context, name: str) -> str:
    return shared_db_url(ctx.workdir(name) / "certificates.db")


def shared_db_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"
