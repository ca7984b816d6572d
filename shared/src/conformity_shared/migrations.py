"""What every service's Alembic env.py does, written once.

Revisions are generated from each service's `db.metadata` with
`python -m conformity_shared.migrations <service> "message"`.
"""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from alembic import context
from sqlalchemy.ext.asyncio import create_async_engine

from conformity_shared.db import UTCDateTime


def _render_item(type_: str, obj: object, autogen_context: object) -> str | bool:
    # In the schema a UTCDateTime is a plain timezone-aware timestamp.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run_env(target_metadata: sa.MetaData) -> None:
    """Run migrations online against the async URL in alembic's config."""
    url = context.config.get_main_option("sqlalchemy.url")

    def do_run(connection: sa.Connection) -> None:
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


if __name__ == "__main__":
    import sys

    autogenerate(sys.argv[1], sys.argv[2])
