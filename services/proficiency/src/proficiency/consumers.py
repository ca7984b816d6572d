"""Proficiency consumes no events: its rounds, samples and outcomes are all its own.

It publishes lab failures and field-suspension requests for approval and supervision to
react to; this module stays so that every service has the same shape.
"""

from __future__ import annotations

from conformity_shared import events
from conformity_shared.messaging import Handler
from conformity_shared.runtime import ServiceRuntime

from proficiency.settings import ProficiencySettings


def handlers(runtime: ServiceRuntime[ProficiencySettings]) -> dict[type[events.Event], Handler]:
    return {}
