"""Migrations: what every service's Alembic env.py does, written once, and the one-shot step
that runs them (`conformity-migrate SERVICE ...`, `make migrate`, the chart's migration job).

Services never migrate when they start: they refuse to start on a schema that is behind and
say what to run. On PostgreSQL the upgrade holds an advisory lock, so two migration jobs
started at once run one after the other (the second finds nothing to do).

Revisions are generated from each service's `db.metadata` with
`python -m conformity_shared.migrations revision <service> "message"`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import orjson
import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.ext.asyncio import create_async_engine

from conformity_shared.db import UTCDateTime
from conformity_shared.envelope import decode_headers, encode_headers

MIGRATION_LOCK = 0x636F6E666F726D  # one advisory lock for every migration run against a server


def _render_item(type_: str, obj: object, autogen_context: object) -> str | bool:
    # In the schema a UTCDateTime is a plain timezone-aware timestamp.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run_env(target_metadata: sa.MetaData) -> None:
    """Run migrations online against the async URL in alembic's config."""
    url = context.config.get_main_option("sqlalchemy.url")

    def do_run(connection: sa.Connection) -> None:
        if connection.dialect.name == "postgresql":
            # Session-level: held until this connection closes, whatever the migrations commit.
            connection.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
            connection.commit()
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            render_item=_render_item,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def run() -> None:
        engine = create_async_engine(url)
        async with engine.connect() as connection:
            await connection.run_sync(do_run)
            await connection.commit()
        await engine.dispose()

    asyncio.run(run())


# Outbox rows converted per statement by the two steps below (bounded memory on a large outbox).
_CONVERSION_BATCH = 5000


def outbox_headers_to_bytes() -> None:
    """Migration step: the outbox's `headers` become bytes (`envelope.encode_headers`), from JSON text.

    Every row is converted, published ones too (republishing after a lost broker disk sets
    `published_at` back to NULL: RELIABILITY.md), so an event written before the migration is
    sent after it with the same headers. The column changes type in place (PostgreSQL: bytea
    from the JSON's text; SQLite: the batch copy casts it to a BLOB), then each row's JSON is
    re-encoded. Rows already in the new form (a re-run after an interruption) are left alone.
    """
    with op.batch_alter_table("outbox") as batch:
        batch.alter_column("headers", existing_type=sa.JSON(), type_=sa.LargeBinary(), existing_nullable=False,
                           postgresql_using="convert_to(headers::text, 'UTF8')")
    _convert_outbox_headers(lambda stored: encode_headers(orjson.loads(stored)) if _is_json(stored) else None)


def outbox_headers_to_json() -> None:
    """Migration step undoing `outbox_headers_to_bytes`: the headers as JSON text again."""
    _convert_outbox_headers(lambda stored: None if _is_json(stored) else orjson.dumps(
        [[name, value.decode()] for name, value in decode_headers(stored)]).decode())
    with op.batch_alter_table("outbox") as batch:
        batch.alter_column("headers", existing_type=sa.LargeBinary(), type_=sa.JSON(), existing_nullable=False,
                           postgresql_using="convert_from(headers, 'UTF8')::json")


def _is_json(stored: str | bytes) -> bool:
    # JSON headers are a list; the bytes form starts with a header name, never with "[".
    return stored[:1] in ("[", b"[")


def _convert_outbox_headers(convert: Callable[[Any], str | bytes | None]) -> None:
    """Rewrite every outbox row's headers with `convert` (None: leave the row), in seq order."""
    conn, last = op.get_bind(), 0
    select = sa.text("SELECT seq, headers FROM outbox WHERE seq > :last ORDER BY seq LIMIT :n")
    update = sa.text("UPDATE outbox SET headers = :headers WHERE seq = :seq")
    while rows := conn.execute(select, {"last": last, "n": _CONVERSION_BATCH}).all():
        changed = [{"seq": seq, "headers": new} for seq, stored in rows if (new := convert(stored)) is not None]
        if changed:
            if conn.dialect.name == "postgresql":  # bytea wants bytes; text is passed as it is
                changed = [{**c, "headers": c["headers"] if isinstance(c["headers"], bytes) else c["headers"].encode()}
                           for c in changed]
            conn.execute(update, changed)
        last = rows[-1][0]


def upgrade(service: str) -> str:
    """Bring `service`'s database (from its CONFORMITY_* settings) to the newest revision."""
    import asyncio as _asyncio

    from conformity_shared import db
    from conformity_shared.settings import ServiceSettings

    url = ServiceSettings(service_name=service).resolved_database_url()
    _asyncio.run(db.migrate(f"{service}:migrations", url))
    return db.schema_head(f"{service}:migrations") or "none"


def autogenerate(service: str, message: str) -> None:
    """Write a new revision for `service` from the difference between head and its metadata."""
    import importlib
    import tempfile

    from alembic import command
    from alembic.config import Config

    importlib.import_module(f"{service}.db")
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Config()
        cfg.set_main_option("script_location", f"{service}:migrations")
        cfg.set_main_option("sqlalchemy.url", f"sqlite+aiosqlite:///{tmp}/scratch.db")
        command.upgrade(cfg, "head")
        command.revision(cfg, message=message, autogenerate=True)


def main(argv: list[str] | None = None) -> int:
    """`conformity-migrate SERVICE [SERVICE ...]`: run each service's migrations, then exit."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="conformity-migrate", description="Bring services' databases to the newest schema")
    parser.add_argument("services", nargs="+", help="service names: approval, certificates, supervision, proficiency ...")
    args = parser.parse_args(argv)
    for service in args.services:
        try:
            head = upgrade(service)
        except Exception as exc:  # noqa: BLE001 - reported, exit status says it failed
            print(f"{service}: migration failed: {exc}", file=sys.stderr)
            return 1
        print(f"{service}: schema at {head}", flush=True)
    return 0


if __name__ == "__main__":
    import sys

    if sys.argv[1:2] == ["revision"]:
        autogenerate(sys.argv[2], sys.argv[3])
    else:
        sys.exit(main())
