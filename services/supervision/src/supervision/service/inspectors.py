"""The inspector directory: registered by the regulator, drawn for inspections."""

from __future__ import annotations

from typing import Any

from conformity_shared.auth import Principal
from conformity_shared.errors import Conflict
from conformity_shared.runtime import ServiceRuntime

from supervision import db
from supervision.commands import RegisterInspector
from supervision.domain.draw import Inspector


async def register_inspector(runtime: ServiceRuntime, principal: Principal, command: RegisterInspector) -> dict[str, Any]:
    """Register an inspector; the organisation they work for is never theirs to inspect."""
    inspector = Inspector(command.id, command.name, command.organisation, command.region, command.active)
    async with runtime.unit_of_work() as uow:
        if await db.inspector_is_registered(uow.session, inspector.id):
            raise Conflict(f"inspector {inspector.id} is already registered", field="id")
        await db.add_inspector(uow.session, inspector, uow.clock.now())
        await uow.commit()
    return command.model_dump()


async def list_inspectors(runtime: ServiceRuntime) -> dict[str, Any]:
    async with runtime.sessions() as session:
        rows = await db.inspector_directory(session)
    return {"items": [{k: v for k, v in r.items() if k != "registered_at"} for r in rows]}
