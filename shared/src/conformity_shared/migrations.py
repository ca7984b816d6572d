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

import sqlalchemy as sa
from alembic import context
from sqlalchemy.ext.asyncio import create_async_engine

from conformity_shared.db import UTCDateTime

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
