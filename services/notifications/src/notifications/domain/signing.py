"""Signing deliveries by the Standard Webhooks specification (standardwebhooks.com), with the
reference library: HMAC-SHA256 over `{webhook-id}.{webhook-timestamp}.{body}` with the
endpoint's `whsec_` secret, base64, prefixed `v1,`. During a rotation's overlap the old secret
signs too: `webhook-signature` then holds both, space-separated, and a receiver accepts either.
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
from collections.abc import Sequence

from standardwebhooks.webhooks import Webhook

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32


def new_secret() -> str:
    """A fresh endpoint secret: 32 random bytes, base64, with the `whsec_` prefix."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def signature_header(secrets_in_use: Sequence[str], webhook_id: str, timestamp: dt.datetime, body: str) -> str:
    """The `webhook-signature` value: one `v1,<base64>` per secret in use, newest first."""
    return " ".join(Webhook(secret).sign(webhook_id, timestamp, body) for secret in secrets_in_use)


def headers(secrets_in_use: Sequence[str], webhook_id: str, timestamp: dt.datetime, body: str) -> dict[str, str]:
    """The three Standard Webhooks headers of one attempt."""
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signature_header(secrets_in_use, webhook_id, timestamp, body),
    }


def secrets_in_use(current: str, previous: str | None, previous_until: dt.datetime | None,
                   now: dt.datetime) -> list[str]:
    """The secrets that sign now: the current one, and the previous one until its overlap ends."""
    if previous and previous_until and now < previous_until:
        return [current, previous]
    return [current]
