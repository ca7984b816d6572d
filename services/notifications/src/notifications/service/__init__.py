"""Use cases of the notifications service, one unit of work each.

    context.py        retry and disable policies, the worker's wake-up
    subscriptions.py  endpoints (create, rotate the secret, enable) and watchlists (bulk add, remove, list)
    reactions.py      certificates' and approval's events: the read model, changes, feed entries, deliveries
    deliveries.py     claim, sign, send, record; what a subscriber sees of its deliveries; replay
    feed.py           the change feed by cursor, and its live stream (server-sent events)
"""

from notifications.service.context import Context
from notifications.service.deliveries import get_delivery, list_deliveries, record_outcomes, replay, send_due
from notifications.service.feed import changes, stream
from notifications.service.reactions import record_body, record_issued, record_status_change
from notifications.service.subscriptions import (
    add_watches,
    create_endpoint,
    enable_endpoint,
    get_endpoint,
    list_endpoints,
    list_watches,
    remove_watches,
    rotate_secret,
    subscriber_of,
)

__all__ = [
    "Context",
    "add_watches",
    "changes",
    "create_endpoint",
    "enable_endpoint",
    "get_delivery",
    "get_endpoint",
    "list_deliveries",
    "list_endpoints",
    "list_watches",
    "record_body",
    "record_issued",
    "record_outcomes",
    "record_status_change",
    "remove_watches",
    "replay",
    "rotate_secret",
    "send_due",
    "stream",
    "subscriber_of",
]
