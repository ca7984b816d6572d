"""What the use cases need besides settings and clock, built once per app."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from notifications.domain.delivery import DisablePolicy, RetryPolicy
from notifications.settings import NotificationsSettings


@dataclass
class Context:
    retry: RetryPolicy
    disable: DisablePolicy
    overlap_seconds: float
    # Set when a change made deliveries, so this replica's worker looks at once, not at its next poll.
    deliveries_waiting: asyncio.Event = field(default_factory=asyncio.Event)

    @classmethod
    def of(cls, settings: NotificationsSettings) -> Context:
        return cls(
            RetryPolicy(settings.delivery_retry_base_seconds, settings.delivery_retry_max_seconds,
                        settings.delivery_retry_period_seconds),
            DisablePolicy(settings.endpoint_disable_after_seconds, settings.endpoint_disable_after_failures),
            settings.secret_rotation_overlap_seconds,
        )
