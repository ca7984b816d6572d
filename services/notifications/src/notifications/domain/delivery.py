"""The delivery rules: when to try again, when to give up, when an endpoint is disabled.

At least once: a delivery is tried until the endpoint answers 2xx or its retry period has
passed. In order: per endpoint and certificate, a change waits until the earlier one is
delivered or given up (the claim query in db.py enforces it; these are the timings).
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from enum import StrEnum


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # waiting for its turn, its next attempt, or its endpoint to be enabled
    DELIVERED = "delivered"
    GIVEN_UP = "given_up"


class EndpointStatus(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


@dataclass(frozen=True)
class RetryPolicy:
    base_seconds: float
    max_seconds: float
    period_seconds: float

    def next_attempt(self, attempts: int, now: dt.datetime, rng: random.Random | None = None) -> dt.timedelta:
        """Exponential backoff with jitter: after the n-th failed attempt, a random wait in
        [c/10, c] with c = min(max, base * 2**(n-1)) (so that a thousand deliveries failing
        together do not come back together, nor hammer the endpoint at once)."""
        ceiling = min(self.max_seconds, self.base_seconds * 2 ** min(attempts - 1, 40))
        return dt.timedelta(seconds=(rng or random).uniform(ceiling / 10, ceiling))

    def gives_up(self, created_at: dt.datetime, now: dt.datetime) -> bool:
        return now - created_at >= dt.timedelta(seconds=self.period_seconds)


@dataclass(frozen=True)
class DisablePolicy:
    after_seconds: float
    after_failures: int

    def disables(self, consecutive_failures: int, failing_since: dt.datetime | None, now: dt.datetime) -> bool:
        """An endpoint failing at every attempt for long enough, and often enough, is disabled."""
        if failing_since is None or consecutive_failures < self.after_failures:
            return False
        return now - failing_since >= dt.timedelta(seconds=self.after_seconds)


@dataclass(frozen=True)
class Outcome:
    """What one attempt found: a 2xx, or the error (status code, or the exception's text).

    `kind` is what may leave the service on its event stream: `HTTP 500`, the exception's class
    (`ConnectError`, `ReadTimeout`) or `refused_target:<rule>`, never the URL, an address or the
    error's text (those stay in the subscriber's own delivery log)."""

    ok: bool
    status_code: int | None
    error: str | None
    duration_ms: int
    kind: str = ""

    @classmethod
    def of_status(cls, status_code: int, duration_ms: int) -> Outcome:
        kind = f"HTTP {status_code}"
        if 200 <= status_code < 300:
            return cls(True, status_code, None, duration_ms, kind)
        if 300 <= status_code < 400:
            return cls(False, status_code, f"HTTP {status_code}: redirects are not followed", duration_ms, kind)
        return cls(False, status_code, f"HTTP {status_code}", duration_ms, kind)

    @property
    def failure(self) -> str:
        """The kind of failure, for the event stream (never an address)."""
        return self.kind or ("HTTP " + str(self.status_code) if self.status_code else "error")
