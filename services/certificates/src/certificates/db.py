"""The certificates service's tables (certificates, their history, its read model of approved
bodies fed only by approval events), the mapping of rows to the domain, and the loads, saves
and queries the use cases and the scheduler share."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from conformity_shared.credentials import STATUS_PURPOSES, with_bits
from conformity_shared.db import UTCDateTime, insert_many, messaging_tables, upsertable_insert
from conformity_shared.errors import Conflict

from certificates import domain

metadata = sa.MetaData()
outbox, inbox = messaging_tables(metadata)

TZ = UTCDateTime()

bodies = sa.Table(
    "approved_bodies",
    metadata,
    sa.Column("uscc", sa.String(18), primary_key=True),
    sa.Column("approval_id", sa.String(64), nullable=False),
    sa.Column("name", sa.String(300), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),  # domain.BodyStatus
    sa.Column("fields", sa.JSON, nullable=False),  # approved fields
    sa.Column("suspended_fields", sa.JSON, nullable=False),
    # The schemes each field admits, as the grant named them; NULL when it named none.
    sa.Column("field_schemes", sa.JSON, nullable=True),
    sa.Column("updated_at", TZ, nullable=False),
)

certificates = sa.Table(
    "certificates",
    metadata,
    sa.Column("number", sa.String(40), primary_key=True),
    sa.Column("issuing_body_uscc", sa.String(18), nullable=False, index=True),
    sa.Column("holder_uscc", sa.String(18), nullable=False, index=True),
    sa.Column("holder_name", sa.String(300), nullable=False),
    sa.Column("scheme", sa.String(40), nullable=False),
    sa.Column("field", sa.String(40), nullable=False),
    sa.Column("product", sa.String(500), nullable=False),
    sa.Column("standard", sa.String(200), nullable=False),
    sa.Column("valid_from", sa.Date, nullable=False),
    sa.Column("valid_until", sa.Date, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("suspension_reason", sa.String(40), nullable=True),
    sa.Column("suspended_until", sa.Date, nullable=True),
    sa.Column("suspended_by", sa.String(64), nullable=True),  # the spot check (inspection id) or event id
    sa.Column("last_change_at", TZ, nullable=False),
    # Kept on the row so that public verification answers from one primary-key lookup.
    sa.Column("last_change_reason", sa.String(300), nullable=True),
    sa.Column("version", sa.Integer, nullable=False, default=1),
    # Its entry in its body's status lists (digital certificates); NULL until its credential is signed.
    sa.Column("status_index", sa.Integer, nullable=True),
)
sa.Index("ix_certificates_body_status", certificates.c.issuing_body_uscc, certificates.c.status)
sa.Index("ix_certificates_status_suspended_until", certificates.c.status, certificates.c.suspended_until)
sa.Index("ix_certificates_status_valid_until", certificates.c.status, certificates.c.valid_until)

history = sa.Table(
    "certificate_history",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("certificate_number", sa.String(40), sa.ForeignKey("certificates.number"), nullable=False, index=True),
    sa.Column("from_status", sa.String(20), nullable=True),
    sa.Column("to_status", sa.String(20), nullable=False),
    sa.Column("reason", sa.String(300), nullable=False),
    sa.Column("actor", sa.String(120), nullable=True),
    sa.Column("cause_event_id", sa.String(64), nullable=True),
    sa.Column("at", TZ, nullable=False),
    sa.Column("note", sa.String(1000), nullable=True),
)

# The signed digital form of each certificate (a vc+jwt), as signed: rotations never re-sign.
digital_credentials = sa.Table(
    "digital_credentials",
    metadata,
    sa.Column("certificate_number", sa.String(40), sa.ForeignKey("certificates.number"), primary_key=True),
    sa.Column("kid", sa.String(200), nullable=False),
    sa.Column("token", sa.Text, nullable=False),
    sa.Column("signed_at", TZ, nullable=False),
)

# Each issuing body's Bitstring Status Lists (one per purpose), changed in the transaction of
# every status change; trailing zero bytes are not stored. `version` names the list's state (ETag).
status_lists = sa.Table(
    "status_lists",
    metadata,
    sa.Column("issuing_body_uscc", sa.String(18), primary_key=True),
    sa.Column("purpose", sa.String(20), primary_key=True),
    sa.Column("bits", sa.LargeBinary, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("updated_at", TZ, nullable=False),
)

number_sequences = sa.Table(
    "number_sequences",
    metadata,
    sa.Column("prefix", sa.String(40), primary_key=True),
    sa.Column("last", sa.BigInteger, nullable=False),
)

holder_requests = sa.Table(
    "holder_requests",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("certificate_number", sa.String(40), sa.ForeignKey("certificates.number"), nullable=False, index=True),
    sa.Column("action", sa.String(20), nullable=False),  # domain.Action: suspend | cancel
    sa.Column("requested_by_body", sa.String(18), nullable=False),
    sa.Column("holder_reference", sa.String(200), nullable=False),
    sa.Column("at", TZ, nullable=False),
)


def status_in(column: sa.ColumnElement[Any], statuses: Iterable[domain.Status]) -> sa.ColumnElement[bool]:
    """``column`` holds one of ``statuses``: an equality when there is one, so that the plan is
    the same as for a written-out status."""
    values = sorted(s.value for s in statuses)
    return column == values[0] if len(values) == 1 else column.in_(values)


# --- the read model of approved bodies ---------------------------------------------------


async def load_body(session: AsyncSession, uscc: str) -> domain.BodyStanding:
    """What approval events said of the body; status None when none was seen."""
    row = (await session.execute(sa.select(bodies).where(bodies.c.uscc == uscc))).first()
    if row is None:
        return domain.BodyStanding(uscc=uscc, status=None)
    return domain.BodyStanding(
        uscc=uscc, status=domain.BodyStatus(row.status), fields=frozenset(row.fields),
        suspended_fields=frozenset(row.suspended_fields), approval_id=row.approval_id,
        field_schemes=None if row.field_schemes is None else {f: frozenset(s) for f, s in row.field_schemes.items()},
    )


def field_schemes_value(field_schemes: Mapping[str, Iterable[str]] | None) -> dict[str, list[str]] | None:
    """The ``field_schemes`` column: sorted lists by field, or NULL when the grant named none."""
    return None if field_schemes is None else {f: sorted(s) for f, s in sorted(field_schemes.items())}


def _body_values(standing: domain.BodyStanding, at: dt.datetime) -> dict[str, Any]:
    status = domain.BodyStatus(standing.status)
    return dict(
        approval_id=standing.approval_id, status=status.value, fields=sorted(standing.fields),
        suspended_fields=sorted(standing.suspended_fields), field_schemes=field_schemes_value(standing.field_schemes),
        updated_at=at,
    )


async def save_body(session: AsyncSession, standing: domain.BodyStanding, at: dt.datetime) -> None:
    await session.execute(sa.update(bodies).where(bodies.c.uscc == standing.uscc).values(**_body_values(standing, at)))


async def save_granted_body(session: AsyncSession, standing: domain.BodyStanding, name: str, at: dt.datetime) -> None:
    """Write a body's newly granted approval over whatever was known of it."""
    values = dict(name=name, **_body_values(standing, at))
    known = await session.scalar(sa.select(bodies.c.uscc).where(bodies.c.uscc == standing.uscc))
    if known:
        await session.execute(sa.update(bodies).where(bodies.c.uscc == standing.uscc).values(**values))
    else:
        await session.execute(sa.insert(bodies).values(uscc=standing.uscc, **values))


# --- certificates: rows to the domain and back -------------------------------------------


def certificate_from_row(row: Any) -> domain.Certificate:
    return domain.Certificate(
        number=row.number,
        issuing_body_uscc=row.issuing_body_uscc,
        holder_uscc=row.holder_uscc,
        holder_name=row.holder_name,
        scheme=row.scheme,
        field=row.field,
        product=row.product,
        standard=row.standard,
        valid_from=row.valid_from,
        valid_until=row.valid_until,
        status=domain.Status(row.status),
        suspension_reason=row.suspension_reason,
        suspended_until=row.suspended_until,
        suspended_by=row.suspended_by,
    )


async def load_certificate(session: AsyncSession, number: str) -> domain.Certificate | None:
    """The certificate, locked for the change about to be made to it."""
    query = sa.select(certificates).where(certificates.c.number == number).with_for_update()
    row = (await session.execute(query)).first()
    return certificate_from_row(row) if row else None


async def load_certificates(session: AsyncSession, numbers: Iterable[str]) -> list[domain.Certificate]:
    """The certificates with these numbers, in number order: one primary-key IN query."""
    wanted = sorted(set(numbers))
    if not wanted:
        return []
    c = certificates
    rows = (await session.execute(sa.select(c).where(c.c.number.in_(wanted)).order_by(c.c.number).with_for_update())).all()
    return [certificate_from_row(row) for row in rows]


async def insert_certificate(session: AsyncSession, cert: domain.Certificate, status_index: int | None = None) -> None:
    """Write a newly issued certificate (with its status list index, when signed) and its issuance entry."""
    issued = cert.history[-1]
    await session.execute(
        sa.insert(certificates).values(
            number=cert.number, issuing_body_uscc=cert.issuing_body_uscc, holder_uscc=cert.holder_uscc,
            holder_name=cert.holder_name, scheme=cert.scheme, field=cert.field, product=cert.product,
            standard=cert.standard, valid_from=cert.valid_from, valid_until=cert.valid_until,
            status=cert.status.value, last_change_at=issued.at, last_change_reason=issued.reason, version=1,
            status_index=status_index,
        )
    )
    await write_history(session, [cert])


async def save_certificate(session: AsyncSession, cert: domain.Certificate) -> int | None:
    """Write the certificate's new state and the history entries it gained; returns its status
    list index (None before its credential is signed).

    The update is conditional on the status the certificate was read in, so that two
    writers (two instances, a request racing the scheduler) never both transition it.
    """
    first, last = cert.history[0], cert.history[-1]
    assert first.from_status is not None  # an issuance is inserted, not saved
    changed = await session.execute(
        sa.update(certificates)
        .where(certificates.c.number == cert.number)
        .where(certificates.c.status == first.from_status.value)
        .values(
            status=cert.status.value,
            suspension_reason=cert.suspension_reason,
            suspended_until=cert.suspended_until,
            suspended_by=cert.suspended_by,
            last_change_at=last.at,
            last_change_reason=last.reason,
            version=certificates.c.version + 1,
        )
        .returning(certificates.c.status_index)
    )
    row = changed.first()
    if row is None:
        raise Conflict(f"certificate {cert.number} was changed concurrently; try again", field="status")
    await write_history(session, [cert])
    return row.status_index


def history_row(number: str, h: domain.HistoryEntry) -> dict[str, Any]:
    return dict(
        certificate_number=number, from_status=h.from_status.value if h.from_status else None,
        to_status=h.to_status.value, reason=h.reason, actor=h.actor, cause_event_id=h.cause_event_id, at=h.at,
        note=h.note,
    )


async def write_history(session: AsyncSession, certs: Iterable[domain.Certificate]) -> None:
    """Insert the history entries the certificates gained, in one executemany, and clear them."""
    rows = []
    for cert in certs:
        rows.extend(history_row(cert.number, h) for h in cert.history)
        cert.history.clear()
    await insert_many(session, history, rows)


async def next_sequence(session: AsyncSession, prefix: str) -> int:
    """Allocate the next sequence of a number prefix in one atomic statement (an upsert that
    returns the new value), so that concurrent issuers never draw the same number."""
    t = number_sequences
    statement = (
        upsertable_insert(session, t).values(prefix=prefix, last=1)
        .on_conflict_do_update(index_elements=[t.c.prefix], set_={"last": t.c.last + 1})
        .returning(t.c.last)
    )
    return int((await session.execute(statement)).scalar_one())


async def record_holder_request(
    session: AsyncSession, number: str, action: domain.Action, body: str | None, reference: str | None, at: dt.datetime
) -> None:
    """Keep the holder's written request behind a cancellation or a suspension."""
    await session.execute(
        sa.insert(holder_requests).values(
            id=str(uuid.uuid4()), certificate_number=number, action=action.value,
            requested_by_body=body, holder_reference=reference, at=at,
        )
    )


# --- every certificate of a body at once (a revoked approval) ------------------------------


def _of_body(uscc: str, statuses: Iterable[domain.Status]) -> tuple[sa.ColumnElement[bool], ...]:
    return certificates.c.issuing_body_uscc == uscc, status_in(certificates.c.status, statuses)


async def any_certificate_of_body(
    session: AsyncSession, uscc: str, statuses: Iterable[domain.Status]
) -> domain.Certificate | None:
    """One certificate of the body in one of ``statuses``, or None."""
    row = (await session.execute(sa.select(certificates).where(*_of_body(uscc, statuses)).limit(1))).first()
    return certificate_from_row(row) if row else None


async def move_certificates_of_body(
    session: AsyncSession, uscc: str, statuses: Iterable[domain.Status], moved: domain.Certificate
) -> list[Any]:
    """Give every certificate of the body that is in one of ``statuses`` at this instant the
    state ``moved`` reached by its last transition (see `move_certificates`)."""
    return await move_certificates(session, _of_body(uscc, statuses), moved)


async def move_certificates(
    session: AsyncSession, where: Sequence[sa.ColumnElement[bool]], moved: domain.Certificate
) -> list[Any]:
    """Give every certificate matching ``where`` at this instant the state ``moved`` reached by
    its last transition, and its history entry, set-based: one conditional UPDATE ... RETURNING,
    then the history rows by executemany. ``where`` must hold the statuses the transition starts
    from, so that a certificate another writer has moved on is not matched. Returns the
    (number, holder, issuing body, status index) of each, in number order."""
    c, entry = certificates, moved.history[-1]
    changed = (
        await session.execute(
            sa.update(c)
            .where(*where)
            .values(
                status=moved.status.value, suspension_reason=moved.suspension_reason,
                suspended_until=moved.suspended_until, suspended_by=moved.suspended_by,
                last_change_at=entry.at, last_change_reason=entry.reason, version=c.c.version + 1,
            )
            .returning(c.c.number, c.c.holder_uscc, c.c.issuing_body_uscc, c.c.status_index)
        )
    ).all()
    changed.sort()
    row = history_row("", entry)
    await insert_many(session, history, [{**row, "certificate_number": number} for number, *_ in changed])
    return changed


# --- time-based transitions --------------------------------------------------------------


def due_conditions(today: dt.date) -> list[sa.ColumnElement[bool]]:
    """What may be due on ``today``, each condition served by its own index; the domain
    decides which transition applies (when both dates have passed, the earlier one)."""
    c = certificates
    return [
        sa.and_(status_in(c.c.status, domain.WITHDRAWN_AT_DEADLINE), c.c.suspended_until < today),
        sa.and_(status_in(c.c.status, domain.EXPIRED_AFTER_VALIDITY), c.c.valid_until < today),
    ]


async def load_due(
    session: AsyncSession, condition: sa.ColumnElement[bool], after: str, limit: int
) -> list[domain.Certificate]:
    """Up to ``limit`` certificates meeting ``condition`` numbered after ``after``, in number order."""
    c = certificates
    query = sa.select(c).where(condition, c.c.number > after).order_by(c.c.number).limit(limit)
    return [certificate_from_row(row) for row in (await session.execute(query)).all()]


# --- queries -------------------------------------------------------------------------------

# What public verification answers from: one primary-key lookup, no history.
PUBLIC_COLUMNS = [
    certificates.c.number, certificates.c.status, certificates.c.holder_uscc, certificates.c.holder_name,
    certificates.c.issuing_body_uscc, certificates.c.scheme, certificates.c.field, certificates.c.product,
    certificates.c.standard, certificates.c.valid_from, certificates.c.valid_until,
    certificates.c.suspension_reason, certificates.c.suspended_until, certificates.c.last_change_at,
    certificates.c.last_change_reason,
]


async def certificate_row(session: AsyncSession, number: str) -> Any:
    return (await session.execute(sa.select(certificates).where(certificates.c.number == number))).first()


async def history_of(session: AsyncSession, number: str) -> Sequence[Any]:
    query = sa.select(history).where(history.c.certificate_number == number).order_by(history.c.id)
    return (await session.execute(query)).all()


async def certificate_rows(
    session: AsyncSession, *, every_body: bool, issued_by: str | None, status: str | None, holder_uscc: str | None,
    limit: int, offset: int,
) -> Sequence[Any]:
    """A page of certificates in number order: those ``issued_by`` unless ``every_body``, and
    of ``status`` and ``holder_uscc`` where given."""
    c = certificates
    query = sa.select(c).order_by(c.c.number).limit(limit).offset(offset)
    if not every_body:
        query = query.where(c.c.issuing_body_uscc == issued_by)
    if status:
        query = query.where(c.c.status == status)
    if holder_uscc:
        query = query.where(c.c.holder_uscc == holder_uscc)
    return (await session.execute(query)).all()


async def public_row(session: AsyncSession, number: str) -> Any:
    return (await session.execute(sa.select(*PUBLIC_COLUMNS).where(certificates.c.number == number))).first()


async def public_rows(session: AsyncSession, numbers: Sequence[str]) -> Sequence[Any]:
    """The public columns of the certificates with these numbers: one primary-key IN query."""
    return (await session.execute(sa.select(*PUBLIC_COLUMNS).where(certificates.c.number.in_(numbers)))).all()


# --- digital certificates: credentials and status lists -------------------------------------


def status_index_prefix(uscc: str) -> str:
    """The sequence of a body's status list indexes, beside the number sequences."""
    return f"status-index:{uscc}"


async def allocate_status_index(session: AsyncSession, uscc: str) -> int:
    """The next free index of the body's status lists (from 0), allocated atomically."""
    return await next_sequence(session, status_index_prefix(uscc)) - 1


async def status_entries(session: AsyncSession, uscc: str) -> int:
    """How many indexes of the body's status lists are allocated."""
    last = await session.scalar(
        sa.select(number_sequences.c.last).where(number_sequences.c.prefix == status_index_prefix(uscc))
    )
    return int(last or 0)


async def issuing_body(session: AsyncSession, uscc: str) -> domain.IssuingBody | None:
    row = (await session.execute(sa.select(bodies).where(bodies.c.uscc == uscc))).first()
    if row is None:
        return None
    return domain.IssuingBody(uscc=uscc, name=row.name, approval_id=row.approval_id, fields=tuple(row.fields))


async def save_credential(
    session: AsyncSession, number: str, kid: str, token: str, at: dt.datetime, *, status_index: int | None = None
) -> None:
    """Keep a certificate's signed credential; ``status_index``: give the row its index too (a
    certificate signed after its issuance)."""
    if status_index is not None:
        await session.execute(
            sa.update(certificates).where(certificates.c.number == number).values(status_index=status_index)
        )
    await session.execute(
        sa.insert(digital_credentials).values(certificate_number=number, kid=kid, token=token, signed_at=at)
    )


async def credential_token(session: AsyncSession, number: str) -> str | None:
    c = digital_credentials
    return await session.scalar(sa.select(c.c.token).where(c.c.certificate_number == number))


async def follow_statuses(
    session: AsyncSession, uscc: str, statuses: Mapping[int, domain.Status], at: dt.datetime
) -> None:
    """Set the body's status list bits of each index to what its certificate's status says
    (``domain.status_bits``), in the caller's transaction; a list is written only when one of
    its bits changes."""
    if not statuses:
        return
    for purpose in STATUS_PURPOSES:
        changes = {index: domain.status_bits(status)[purpose] for index, status in statuses.items()}
        row = await _status_list_for_update(session, uscc, purpose, at, create=any(changes.values()))
        if row is None:
            continue  # no list yet and nothing to set: every bit is already clear
        bits = with_bits(row.bits, changes).rstrip(b"\0")
        if bits != row.bits:
            await session.execute(
                sa.update(status_lists)
                .where(status_lists.c.issuing_body_uscc == uscc, status_lists.c.purpose == purpose)
                .values(bits=bits, version=status_lists.c.version + 1, updated_at=at)
            )


async def _status_list_for_update(session: AsyncSession, uscc: str, purpose: str, at: dt.datetime, *, create: bool) -> Any:
    """The body's list, locked; created first (empty) when ``create`` and missing."""
    t = status_lists
    query = sa.select(t).where(t.c.issuing_body_uscc == uscc, t.c.purpose == purpose).with_for_update()
    row = (await session.execute(query)).first()
    if row is None and create:
        # Two transactions may create it at once: the loser's insert does nothing, then both lock it.
        await session.execute(
            upsertable_insert(session, t)
            .values(issuing_body_uscc=uscc, purpose=purpose, bits=b"", version=0, updated_at=at)
            .on_conflict_do_nothing(index_elements=[t.c.issuing_body_uscc, t.c.purpose])
        )
        row = (await session.execute(query)).first()
    return row


async def status_list(session: AsyncSession, uscc: str, purpose: str) -> Any:
    t = status_lists
    return (await session.execute(sa.select(t).where(t.c.issuing_body_uscc == uscc, t.c.purpose == purpose))).first()
