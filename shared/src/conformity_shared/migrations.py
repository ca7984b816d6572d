"""What every service's Alembic env.py does, written once."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.ext.asyncio import create_async_engine

from conformity_shared.db import messaging_tables


def run_env(target_metadata: sa.MetaData) -> None:
    """Run migrations online against the async URL in alembic's config."""
    url = context.config.get_main_option("sqlalchemy.url")

    def do_run(connection: sa.Connection) -> None:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
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


def create_messaging_tables() -> None:
    """Create the outbox and inbox tables (called from each service's first revision)."""
    bind = op.get_bind()
    for table in messaging_tables(sa.MetaData()):
        table.create(bind)
