"""The dashboard's consumer: all four streams, its own consumer group, always from the beginning."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener

from conformity_shared import topics
from conformity_operators.broker import quiet_kafka_logs
from conformity_operators.dashboard.index import EventIndex
from conformity_operators.errors import BrokerUnreachable
from conformity_operators.events_view import from_record
from conformity_operators.settings import DashboardSettings

log = structlog.get_logger("conformity.dashboard")
RETRY_SECONDS = 2.0


class _FromTheBeginning(ConsumerRebalanceListener):
    """The index lives in memory: whatever partitions we get, we read them whole."""

    def __init__(self, consumer: AIOKafkaConsumer) -> None:
        self.consumer = consumer

    async def on_partitions_revoked(self, revoked) -> None:  # noqa: ANN001
        pass

    async def on_partitions_assigned(self, assigned) -> None:  # noqa: ANN001
        if assigned:
            await self.consumer.seek_to_beginning(*assigned)


class BrokerFeed:
    def __init__(self, settings: DashboardSettings, index: EventIndex) -> None:
        self.settings = settings
        self.index = index
        # One group per dashboard process: every dashboard must see every partition.
        self.group_id = settings.dashboard_group_id or f"conformity-operators-dashboard-{socket.gethostname()}-{os.getpid()}"
        self.status = "connecting"
        self.problem: str | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        quiet_kafka_logs()
        self._task = asyncio.create_task(self._run(), name="dashboard-feed")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        bootstrap = self.settings.kafka_bootstrap_servers
        while True:
            try:
                await self._consume(bootstrap)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the broker is away: say so on the page, try again
                self.status = "unreachable"
                self.problem = BrokerUnreachable(bootstrap, exc.__class__.__name__).message
                log.warning("dashboard cannot read the broker; retrying", error=repr(exc))
                await asyncio.sleep(RETRY_SECONDS)

    async def _consume(self, bootstrap: str) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=self.group_id,
            client_id="conformity-dashboard",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            # The dashboard only reads: it creates no topic. Topics that appear after it starts
            # (the services create them, with their replication) are found within seconds.
            metadata_max_age_ms=5000,
            **self.settings.kafka_access().client_settings(),  # the operators' read-only principal
        )
        consumer.subscribe(list(topics.ALL), listener=_FromTheBeginning(consumer))
        await consumer.start()
        self.status, self.problem = "connected", None
        try:
            async for record in consumer:
                self.index.add(from_record(record))
        finally:
            await consumer.stop()
