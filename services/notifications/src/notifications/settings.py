"""Settings of the notifications service (`CONFORMITY_*` variables)."""

from __future__ import annotations

from pydantic import Field

from conformity_shared.settings import ServiceSettings


class NotificationsSettings(ServiceSettings):
    service_name: str = "notifications"
    # --- delivery: at least once, retried with exponential backoff and full jitter ---
    # Failure n waits a random time in [c/10, c], c = min(max, base * 2**(n-1)); a delivery still failing
    # `retry_period_seconds` after it was created is given up (3 days: a weekend outage survives).
    delivery_retry_base_seconds: float = Field(default=5.0, gt=0)
    delivery_retry_max_seconds: float = Field(default=3600.0, gt=0)
    delivery_retry_period_seconds: float = Field(default=3 * 24 * 3600.0, gt=0)
    delivery_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    # Sending loops per replica (each claims its own rounds, so one is sending while another
    # records), deliveries one round claims, and requests in flight per loop.
    delivery_workers: int = Field(default=2, ge=1, le=16)
    delivery_batch_size: int = Field(default=200, ge=1, le=5000)
    delivery_concurrency: int = Field(default=64, ge=1, le=1000)
    # Connections one sending loop keeps to one endpoint (its own pool per endpoint origin).
    delivery_connections_per_endpoint: int = Field(default=16, ge=1, le=1000)
    # How long a claim holds before another replica may retry the delivery (a crashed sender).
    delivery_lease_seconds: float = Field(default=60.0, gt=0)
    delivery_poll_seconds: float = Field(default=0.5, gt=0)
    # An endpoint failing without one success for this long, and at least this many times in a
    # row, is disabled with the reason; its deliveries wait until it is enabled again.
    endpoint_disable_after_seconds: float = Field(default=24 * 3600.0, ge=0)
    endpoint_disable_after_failures: int = Field(default=50, ge=1)
    # The old secret keeps signing beside the new one this long after a rotation.
    secret_rotation_overlap_seconds: float = Field(default=24 * 3600.0, ge=0)
    # Live change streams (server-sent events) look for new changes this often.
    stream_poll_seconds: float = Field(default=1.0, gt=0)
    # A stream ends after this long; the client's EventSource reconnects with Last-Event-ID and
    # misses nothing (no connection held for ever through proxies and deployments).
    stream_max_seconds: float = Field(default=300.0, gt=0)
    # A bulk watchlist of 100,000 numbers is about 2.2 MB of JSON.
    max_request_body_bytes: int = Field(default=4 * 1_048_576, ge=1024)
