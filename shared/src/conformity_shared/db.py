"""Async SQLAlchemy engine and sessions; SQLite per service by default, PostgreSQL by URL.

Also the messaging tables every service has (outbox, inbox), so that each service's
first migration creates them the same way.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from conformity_shared import sqlite_driver


class UTCDateTime(sa.types.TypeDecorator[dt.datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite keeps no zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: sa.Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the platform stores aware UTC timestamps")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: sa.Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def create_engine(url: str, *, pool_size: int = 5, max_overflow: int = 5) -> AsyncEngine:
    if url.startswith("sqlite"):
        # aiosqlite, one hand-off to its thread per statement (`sqlite_driver`).
        probe = create_async_engine(url)
        args, params = probe.sync_engine.dialect.create_connect_args(make_url(url))
        engine = create_async_engine(
            url, async_creator=sqlite_driver.creator(*args, **params, timeout=30),
            poolclass=type(probe.sync_engine.pool),  # a memory database keeps its one connection
        )

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:  # noqa: ANN001
            # WAL lets the relay read while a handler writes; busy_timeout waits instead of failing.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    # Sized per replica: replicas x services x (pool_size + max_overflow) must stay under the
    # server's max_connections (PostgreSQL's default is 100), with room for the relay's own
    # publishing connection and for migrations.
    return create_async_engine(url, pool_size=pool_size, max_overflow=max_overflow, pool_pre_ping=True)


def upsertable_insert_for(dialect: str, table: sa.Table) -> Any:
    """An INSERT with ON CONFLICT clauses for the dialect named `dialect`."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


def upsertable_insert(session: AsyncSession, table: sa.Table) -> Any:
    """An INSERT with ON CONFLICT clauses, for the database behind `session`.

    Two writers (a consumer and a request) may create the same row at once; a plain
    check-then-insert lets the second fail on the primary key, ON CONFLICT does not.
    """
    return upsertable_insert_for(session.bind.dialect.name, table)


def _sqlite_value(kind: sa.types.TypeEngine[Any]) -> Any:
    """How SQLAlchemy would store a value of this column type in SQLite, as a function of the
    value; None when the type is not one the fast path knows (then SQLAlchemy does it)."""
    if isinstance(kind, UTCDateTime | sa.DateTime):
        last: list[Any] = [None, None]  # the last value converted and its text: a bulk change's rows share one instant

        def timestamp(value: dt.datetime | None) -> str | None:
            if value is None:
                return None
            if value is last[0]:
                return last[1]  # type: ignore[no-any-return]
            stored = value
            if isinstance(kind, UTCDateTime):
                if value.tzinfo is None:
                    raise ValueError(f"naive datetime {value!r}: the platform stores aware UTC timestamps")
                value = value.astimezone(dt.UTC)
            last[:] = stored, value.strftime("%Y-%m-%d %H:%M:%S.%f")
            return last[1]  # type: ignore[no-any-return]

        return timestamp
    if isinstance(kind, sa.Date):
        return lambda value: None if value is None else value.isoformat()
    if isinstance(kind, sa.JSON):
        # orjson: compact JSON, read back the same by SQLAlchemy's JSON type (json.loads).
        return lambda value: None if value is None else orjson.dumps(value).decode()
    if isinstance(kind, sa.Boolean):
        return lambda value: None if value is None else int(value)
    if isinstance(kind, sa.String | sa.Integer | sa.LargeBinary | sa.Float) and not isinstance(kind, sa.Enum):
        return lambda value: value
    return None


async def insert_many(target: AsyncSession | AsyncConnection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Insert rows that all have the same keys, in one executemany.

    On SQLite the rows go to the driver's own executemany as tuples, converted as SQLAlchemy
    would store them: for large batches (a revoked body's hundred thousand history and outbox
    rows, the bulk loader) SQLAlchemy's per-row parameter processing costs more than SQLite's
    own work. Elsewhere, and for column types the fast path does not know, SQLAlchemy inserts.
    """
    if not rows:
        return
    conn = await target.connection() if isinstance(target, AsyncSession) else target
    columns = list(rows[0])
    converters = [_sqlite_value(table.c[c].type) for c in columns]
    if conn.dialect.name != "sqlite" or any(f is None for f in converters):
        await conn.execute(sa.insert(table), rows)
        return
    values = [tuple(f(row[c]) for f, c in zip(converters, columns, strict=True)) for row in rows]
    names = ", ".join(f'"{c}"' for c in columns)
    marks = ", ".join("?" * len(columns))
    await conn.exec_driver_sql(f'INSERT INTO "{table.name}" ({names}) VALUES ({marks})', values)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def is_postgres(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "postgresql"


def messaging_tables(metadata: sa.MetaData) -> tuple[sa.Table, sa.Table]:
    """The outbox (events to publish) and the inbox (events already handled), returned; and,
    in `metadata` beside them, the consumer's failure counts and the periodic jobs' runs."""
    outbox, inbox = _outbox(metadata), _inbox(metadata)
    _consumer_failures(metadata)
    _job_runs(metadata)
    return outbox, inbox


def _outbox(metadata: sa.MetaData) -> sa.Table:
    outbox = sa.Table(
        "outbox",
        metadata,
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(36), nullable=False, unique=True),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("event_type", sa.String(200), nullable=False),
        sa.Column("headers", sa.LargeBinary, nullable=False),  # envelope.encode_headers
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("published_at", UTCDateTime(), nullable=True),
    )
    sa.Index("ix_outbox_unpublished", outbox.c.published_at, outbox.c.seq)
    return outbox


def _inbox(metadata: sa.MetaData) -> sa.Table:
    inbox = sa.Table(
        "inbox",
        metadata,
        sa.Column("event_id", sa.String(100), primary_key=True),
        sa.Column("event_type", sa.String(200), nullable=False),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("partition", sa.Integer, nullable=False),
        sa.Column("offset", sa.BigInteger, nullable=False),
        sa.Column("processed_at", UTCDateTime(), nullable=False),
    )
    sa.Index("ix_inbox_processed_at", inbox.c.processed_at)  # pruning by age
    return inbox


def _consumer_failures(metadata: sa.MetaData) -> sa.Table:
    """How often an event's handler failed: every replica sees the count, restarts keep it."""
    return sa.Table(
        "consumer_failures",
        metadata,
        sa.Column("event_id", sa.String(100), primary_key=True),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("partition", sa.Integer, nullable=False),
        sa.Column("offset", sa.BigInteger, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.String(2000), nullable=False),
        sa.Column("first_failed_at", UTCDateTime(), nullable=False),
        sa.Column("last_failed_at", UTCDateTime(), nullable=False),
        sa.Column("dead_lettered_at", UTCDateTime(), nullable=True),
        # SHA-256 of the record as first published: a replay is taken back only if it matches.
        sa.Column("record_sha256", sa.String(64), nullable=True),
    )


def _job_runs(metadata: sa.MetaData) -> sa.Table:
    """When each periodic job's last pass began, and on which replica: one pass per period."""
    return sa.Table(
        "job_runs",
        metadata,
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("holder", sa.String(200), nullable=False),
    )


def _alembic_config(script_location: str, url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", script_location)
    cfg.set_main_option("sqlalchemy.url", url)
    return cfg


async def migrate(script_location: str, url: str) -> None:
    """Bring the database to the newest Alembic revision (the env runs its own event loop)."""
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    await asyncio.to_thread(command.upgrade, _alembic_config(script_location, url), "head")


class SchemaBehind(RuntimeError):
    """The database's schema is not the one this code needs: migrations must run first."""


def schema_head(script_location: str) -> str | None:
    """The newest revision the service's migrations define."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config(script_location, "sqlite://")).get_current_head()


async def schema_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at (None for an empty database)."""
    from alembic.runtime.migration import MigrationContext

    async with engine.connect() as conn:
        return await conn.run_sync(lambda sync: MigrationContext.configure(sync).get_current_revision())


async def require_current_schema(engine: AsyncEngine, service: str, script_location: str) -> None:
    """Refuse to start on a schema that is behind (or ahead of) the code, saying what to run."""
    head, current = schema_head(script_location), await schema_revision(engine)
    if current != head:
        raise SchemaBehind(
            f"the {service} database is at schema revision {current or 'none (empty)'}, this code needs {head}: "
            f"run the migrations first (`make migrate`, or `conformity-migrate {service}` with the service's "
            "CONFORMITY_DATABASE_URL; in Kubernetes the chart's migration job)"
        )
