"""Every service's OpenAPI exercised by schemathesis: no request may produce a 5xx, and every
4xx answer names the problem.

The four apps run in this process, each served by uvicorn on a loopback port with its full
lifespan (migrations on a fresh database, the outbox relay, the connection to the session's
broker), their consumers off so that they never join the platform's consumer groups.
Schemathesis generates each operation's requests from the OpenAPI document the app itself
produces, both inputs the schema allows and inputs it forbids, and each call carries a valid
token of a role the operation admits, so that the input gets past the authorization to the
parsing and the rules. The number of examples per operation is bounded
(CONFORMITY_FUZZ_EXAMPLES, default 25) and the generation derandomized, so that CI sends the
same requests on every run, in a few minutes; raise it locally to search further.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import uvicorn
from fastapi import FastAPI
from fastapi.routing import APIRoute
from hypothesis import HealthCheck, settings

from conformity_shared import uscc
from conformity_shared.auth import Role
from conformity_devstack.factories import new_uscc
from conformity_devstack.kafka import free_port, run_coroutine
from conformity_devstack.testing import migrate_app, token

from approval.app import ApprovalSettings, create_app as approval_app
from certificates.app import CertificatesSettings, create_app as certificates_app
from proficiency.app import ProficiencySettings, create_app as proficiency_app
from supervision.app import SupervisionSettings, create_app as supervision_app

EXAMPLES = int(os.environ.get("CONFORMITY_FUZZ_EXAMPLES", "25"))
APPS: dict[str, tuple[Any, Any, dict[str, Any]]] = {
    "approval": (approval_app, ApprovalSettings, {}),
    "certificates": (certificates_app, CertificatesSettings, {"allow_as_of": True}),
    "supervision": (supervision_app, SupervisionSettings, {}),
    "proficiency": (proficiency_app, ProficiencySettings, {}),
}
ORG = new_uscc(random.Random(7))  # the agency's or lab's own organisation, in its token
TOKENS = {
    Role.REGULATOR: token(Role.REGULATOR),
    Role.AGENCY: token(Role.AGENCY, org=ORG),
    Role.LAB: token(Role.LAB, org=ORG),
    Role.INSPECTOR: token(Role.INSPECTOR, inspector_id="insp-fuzz"),
}


def settings_for(service: str, bootstrap: str, database_url: str | None) -> Any:
    _, settings_class, extra = APPS[service]
    return settings_class(
        kafka_bootstrap_servers=bootstrap,
        data_dir=Path(tempfile.mkdtemp(prefix=f"conformity-fuzz-{service}-")),
        database_url=database_url,
        consumers_enabled=False,
        log_level="WARNING",
        log_json=False,
        **extra,
    )


def openapi_of(service: str) -> dict[str, Any]:
    """The document the app produces (no lifespan needed for it), read when the module is collected."""
    return APPS[service][0](settings_for(service, "127.0.0.1:9", None)).openapi()


SCHEMAS = {service: schemathesis.openapi.from_dict(openapi_of(service)) for service in APPS}
for _schema in SCHEMAS.values():
    _schema.config.generation.update(max_examples=EXAMPLES)


def admitted_roles(app: FastAPI) -> dict[tuple[str, str], tuple[Role, ...]]:
    """(METHOD, path) -> the roles its `require(...)` dependency admits (none: a public route).

    Read from the routes themselves, so that a new route is fuzzed with a token it accepts; every
    operation of the OpenAPI document must be found (a route missed would be fuzzed without a
    token, and only its 401 tested)."""

    def roles_in(dependant: Any) -> tuple[Role, ...]:
        for dependency in dependant.dependencies:
            for cell in getattr(dependency.call, "__closure__", None) or ():
                value = cell.cell_contents
                if isinstance(value, tuple) and value and all(isinstance(r, Role) for r in value):
                    return value
            nested = roles_in(dependency)
            if nested:
                return nested
        return ()

    def routes(candidates: Any) -> Iterator[APIRoute]:
        for route in candidates:
            if isinstance(route, APIRoute):
                yield route
            elif hasattr(route, "original_router"):  # a router included in the app (FastAPI >= 0.160)
                yield from routes(route.original_router.routes)

    found = {(m.upper(), r.path): roles_in(r.dependant) for r in routes(app.routes) for m in r.methods}
    documented = {(m.upper(), path) for path, item in app.openapi()["paths"].items() for m in item}
    assert documented <= set(found), f"operations whose route was not found: {sorted(documented - set(found))}"
    return found


@dataclass
class Served:
    url: str
    roles: dict[tuple[str, str], tuple[Role, ...]]
    answers: dict[int, int] = field(default_factory=dict)  # status code -> how many


class InProcessServer:
    """One app served by uvicorn in a thread of this process, with its lifespan."""

    def __init__(self, app: FastAPI) -> None:
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 90
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the app did not start (see the log above)")
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.server.config.port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)


@pytest.fixture(scope="module")
def served(broker, postgres, figures) -> Iterator[dict[str, Served]]:  # noqa: ANN001
    """The four apps on fresh databases (SQLite files, or PostgreSQL databases), on the session's broker."""
    with contextlib.ExitStack() as stack, pytest.MonkeyPatch.context() as env:
        for name, value in broker.service_env().items():
            env.setenv(name, value)  # the apps' settings, read below, sign in to this broker
        found = {}
        for service in APPS:
            database_url = f"{postgres.url}/{postgres.create_database()}" if postgres else None
            app = APPS[service][0](settings_for(service, broker.bootstrap_servers, database_url))
            run_coroutine(migrate_app(app))
            roles = admitted_roles(app)
            found[service] = Served(stack.enter_context(InProcessServer(app)), roles)
        yield found
    for service, app in found.items():
        figures.record(
            f"http fuzzing of {service}", operations=len(SCHEMAS[service].raw_schema["paths"]), requests=sum(app.answers.values()),
            answers=dict(sorted(app.answers.items())), server_errors=sum(n for code, n in app.answers.items() if code >= 500),
        )


def names_the_problem(status: int, body: bytes) -> str | None:
    """Why a 4xx body does not name the problem, or None when it does."""
    try:
        answer = json.loads(body)
    except ValueError:
        return f"a {status} whose body is not JSON: {body[:200]!r}"
    detail = answer.get("detail") if isinstance(answer, dict) else None
    if isinstance(detail, str) and detail.strip():
        return None
    if isinstance(detail, list) and detail and all(isinstance(d, dict) and d.get("msg") and "loc" in d for d in detail):
        return None
    return f"a {status} without a detail naming the problem: {answer!r}"


@schemathesis.pytest.parametrize(**SCHEMAS)
@settings(
    deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)
def test_no_request_produces_a_5xx_and_every_4xx_names_the_problem(case: Any, served: dict[str, Served]) -> None:
    app = served[case.operation.schema.raw_schema["info"]["title"].lower()]  # the app's title is its service
    roles = app.roles.get((case.method.upper(), case.operation.path), ())
    headers = {"Authorization": TOKENS[roles[0]]["Authorization"]} if roles else {}
    if isinstance(case.body, dict) and isinstance(case.body.get("organisation_uscc"), str):
        # An agency applies only for itself: a valid generated code becomes the token's, so that
        # the application reaches the rules; an invalid one stays (its 422 is checked).
        try:
            uscc.validate(case.body["organisation_uscc"])
            case.body["organisation_uscc"] = ORG
        except ValueError:
            pass
    response = case.call(base_url=app.url, headers=headers)
    app.answers[response.status_code] = app.answers.get(response.status_code, 0) + 1
    request = f"{case.method.upper()} {case.formatted_path} query={case.query} body={case.body!r}"
    assert response.status_code < 500, f"{response.status_code} for {request}: {response.content[:500]!r}"
    if 400 <= response.status_code < 500:
        problem = names_the_problem(response.status_code, response.content)
        assert problem is None, f"{problem} for {request}"
