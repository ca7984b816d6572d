"""The apps `make run` starts, in start order: the one list the stack, the tests and the
benchmarks read. A new app (a fifth service, a web front end) is added here and nowhere else."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class App:
    name: str
    factory: str  # "module:create_app", started by uvicorn with --factory
    port: int  # its port under `make run`
    service: bool = True  # a platform service with a database and a topic; False for tools
    development: bool = False  # for development only: never deployed, built from the development stack
    uvicorn_args: tuple[str, ...] = field(default=())


APPS: tuple[App, ...] = (
    # The development issuer (OpenID Connect), first: the others read its keys as they start.
    App("identity", "conformity_devstack.identity:create_app", 8009, service=False, development=True),
    App("approval", "approval.app:create_app", 8001),
    App("certificates", "certificates.app:create_app", 8002),
    App("supervision", "supervision.app:create_app", 8003),
    App("proficiency", "proficiency.app:create_app", 8004),
    App("notifications", "notifications.app:create_app", 8006),
    # The operators' live dashboard; open pages keep an event stream open, so shutdown does not wait for them.
    App("dashboard", "conformity_operators.dashboard.app:create_app", 8000, service=False,
        uvicorn_args=("--timeout-graceful-shutdown", "3")),
    # The portal of agencies, labs and the regulator: it calls the services' HTTP APIs only.
    App("portal", "conformity_portal.app:create_app", 8005, service=False),
)

BY_NAME: dict[str, App] = {app.name: app for app in APPS}
SERVICES: tuple[str, ...] = tuple(app.name for app in APPS if app.service)
TOOLS: tuple[str, ...] = tuple(app.name for app in APPS if not app.service)
DEFAULT_PORTS: dict[str, int] = {app.name: app.port for app in APPS}
