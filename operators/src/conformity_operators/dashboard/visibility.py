"""What each role may see on the dashboard, which only regulators and operators may open.

A regulator sees every event whole. An operator (the regulator's operations staff, who watch the
streams, trace cascades and look after the consumers) sees every event and its metadata (type,
subject, time, service, position, correlation and causation) and the facts that make the
cascades (certificate numbers, organisation codes, statuses, reasons, credit classes, scores),
but not the free texts that can hold personal data or findings not yet decided on:

- `findings`: what inspectors and verifiers wrote about a spot check, an inspection or a
  breached commitment; these name people and premises and become public only with the result;
- `detail`: a lab failure's explanation (its measured values against the blind sample's);
- `closing_reason`, `decided_by`, `cancelled_by`: a desk officer's words and name;
- and the body of a record that is not a well-formed event, which may hold anything.

Nobody reads a subscriber's endpoint URL on the dashboard: notifications no longer put it on
their stream, and the `url` of records published before that (`notification.endpoint_disabled.v1`)
is withheld from regulators and operators alike (SUBSCRIBERS_OWN).

Supervision publishes no inspection assignment on its stream (who inspects whom stays in its
database until the result is recorded), so there is no event type an operator is denied whole
today; one added later belongs in WITHHELD_TYPES.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from conformity_shared.auth import Role
from conformity_operators.dashboard.index import Lens
from conformity_operators.events_view import EventView

WITHHELD = "(withheld: regulator only)"
WITHHELD_FIELDS = frozenset({"findings", "detail", "closing_reason", "decided_by", "cancelled_by"})
WITHHELD_TYPES: frozenset[str] = frozenset()
SUBSCRIBERS_OWN = "(withheld: the subscriber's own)"
SUBSCRIBER_FIELDS = {"notification.endpoint_disabled.v1": frozenset({"url", "reason"})}


def as_regulator_sees(view: EventView) -> EventView:
    """The event whole, but for a subscriber's endpoint URL (and the error text that may hold it)."""
    hidden = SUBSCRIBER_FIELDS.get(view.type)
    if not hidden or not isinstance(view.payload, dict):
        return view
    payload = {key: SUBSCRIBERS_OWN if key in hidden else value for key, value in view.payload.items()}
    return dataclasses.replace(view, payload=payload, value=json.dumps(payload).encode())


def as_operator_sees(view: EventView) -> EventView:
    """The event with the fields an operator may not read replaced by a marker."""
    view = as_regulator_sees(view)
    payload: Any = view.payload
    if view.type in WITHHELD_TYPES or not isinstance(payload, dict):
        payload = {"withheld": WITHHELD}
    else:
        payload = {key: WITHHELD if key in WITHHELD_FIELDS else value for key, value in payload.items()}
    return dataclasses.replace(view, payload=payload, value=json.dumps(payload).encode())


def lens_of(role: Role) -> Lens:
    return as_regulator_sees if role is Role.REGULATOR else as_operator_sees
