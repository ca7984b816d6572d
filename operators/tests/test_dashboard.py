"""The dashboard's API over the real broker (the page itself is tested in a browser)."""

from __future__ import annotations

import pytest

from conformity_shared.auth import Role
from conformity_devstack.kafka import free_port
from conformity_devstack.testing import eventually, running, token
from conformity_operators.dashboard.app import create_app
from conformity_operators.settings import DashboardSettings


@pytest.mark.integration
async def test_the_dashboard_reads_the_streams_and_answers_history_and_cascade(kafka: str, new_chain, publish_events) -> None:
    chain, pairs = new_chain()
    nowhere = f"http://127.0.0.1:{free_port()}"  # no supervision service listens there
    settings = DashboardSettings(kafka_bootstrap_servers=kafka, supervision_url=nowhere)
    async with running(create_app(settings)) as dashboard:
        dashboard.headers.update(token(Role.REGULATOR))
        await publish_events(kafka, *pairs)

        async def traced() -> dict | None:
            answer = await dashboard.get(f"/api/trace/{chain.correlation_id}")
            return answer.json() if answer.status_code == 200 and answer.json()["events"] == 3 else None

        tree = await eventually(traced, timeout=30)
        spot = tree["roots"][0]
        assert spot["type"] == "supervision.spot_check_failed.v1"
        assert spot["children"][0]["type"] == "certificate.suspended.v1"
        assert spot["children"][0]["since_cause"].startswith("+")

        history = (await dashboard.get("/api/search", params={"q": chain.number})).json()
        assert [e["type"] for e in history["events"]] == ["supervision.spot_check_failed.v1", "certificate.suspended.v1"]
        assert len((await dashboard.get("/api/search", params={"q": chain.holder})).json()["events"]) == 3

        counts = (await dashboard.get("/api/counts")).json()
        assert counts["certificate.suspended.v1"] >= 1
        health = (await dashboard.get("/health")).json()
        assert health["status"] == "ok" and health["broker"] == "connected"
        status = (await dashboard.get("/api/status")).json()
        supervision = next(s for s in status["services"] if s["name"] == "supervision")
        assert supervision["asyncapi"] == "/static/asyncapi.html?service=supervision"  # read offline
        assert supervision["asyncapi_json"] == f"{nowhere}/asyncapi.json"
        assert supervision["asyncapi_original"] == f"{nowhere}/asyncapi"
        assert (await dashboard.get("/api/asyncapi/nonsense")).status_code == 404
        away = await dashboard.get("/api/asyncapi/supervision")
        assert away.status_code == 502
        assert f"the supervision service does not answer at {nowhere}" in away.json()["detail"]
        assert "AsyncAPI" in (await dashboard.get("/static/asyncapi.html")).text

        newest = (await dashboard.get("/api/events", params={"after": 0, "limit": 2000})).json()
        assert chain.suspension.id in {e["id"] for e in newest}
        assert (await dashboard.get("/api/trace/no-such-request")).status_code == 404
        page = await dashboard.get("/")
        assert "Live stream" in page.text and "/static/dashboard.js" in page.text
        assert "# Events catalogue" in (await dashboard.get("/catalogue")).text


async def test_the_dashboard_answers_and_says_so_when_no_broker_is_there() -> None:
    settings = DashboardSettings(kafka_bootstrap_servers=f"127.0.0.1:{free_port()}")
    async with running(create_app(settings)) as dashboard:
        dashboard.headers.update(token(Role.OPERATOR, subject="ops-duty"))

        async def unreachable() -> dict | None:
            status = (await dashboard.get("/api/status")).json()
            return status if status["broker"] == "unreachable" else None

        status = await eventually(unreachable, timeout=30)
        assert "no Kafka broker at" in status["problem"] and "make run" in status["problem"]
        assert (await dashboard.get("/health")).status_code == 200


def test_the_page_loads_nothing_from_the_internet() -> None:
    import re
    from importlib import resources

    static = resources.files("conformity_operators.dashboard") / "static"
    files = [f for f in static.iterdir() if f.name.endswith((".html", ".js", ".css"))]
    assert {f.name for f in files} >= {"index.html", "dashboard.js", "dashboard.css"}
    for f in files:
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", f.read_text("utf-8"), re.I), f"{f.name} links outside"


# --- who may open it, and what each role sees -------------------------------------------------------

OPERATOR = token(Role.OPERATOR, subject="ops-duty")
REGULATOR = token(Role.REGULATOR)


@pytest.mark.parametrize("path", ["/api/events", "/api/stream", "/api/status", "/api/counts", "/api/search?q=abc",
                                  "/api/trace/x", "/api/asyncapi/approval", "/catalogue"])
async def test_the_dashboards_api_and_stream_need_a_regulator_or_an_operator(path: str) -> None:
    settings = DashboardSettings(kafka_bootstrap_servers=f"127.0.0.1:{free_port()}")
    async with running(create_app(settings)) as dashboard:
        anonymous = await dashboard.get(path)
        assert anonymous.status_code == 401 and "sign in" in anonymous.json()["detail"]
        assert (await dashboard.get(path, headers={"Authorization": "Bearer not-a-token"})).status_code == 401
        agency = await dashboard.get(path, headers=token(Role.AGENCY, org="91350100M000100Y43"))
        assert agency.status_code == 403 and "agency" in agency.json()["detail"]
        assert (await dashboard.get(path, headers=token(Role.INSPECTOR, inspector_id="insp-1"))).status_code == 403


async def test_the_page_sends_a_browser_without_a_session_to_sign_in() -> None:
    settings = DashboardSettings(kafka_bootstrap_servers=f"127.0.0.1:{free_port()}")
    async with running(create_app(settings)) as dashboard:
        answer = await dashboard.get("/")
        assert answer.status_code == 303 and answer.headers["location"] == "/auth/sign-in?next=/"
        assert (await dashboard.get("/health")).status_code == 200  # the container's health check needs no token
        page = await dashboard.get("/", headers=OPERATOR)
        assert page.status_code == 200 and "operator · ops-duty" in page.text
        assert (await dashboard.get("/", headers=token(Role.LAB, org="91350100M000100Y43"))).status_code == 403


@pytest.mark.integration
async def test_an_operator_sees_the_cascade_but_not_the_inspectors_findings(kafka: str, new_chain, publish_events) -> None:
    chain, pairs = new_chain()
    settings = DashboardSettings(kafka_bootstrap_servers=kafka)
    async with running(create_app(settings)) as dashboard:
        await publish_events(kafka, *pairs)

        async def traced(headers: dict[str, str]) -> dict | None:
            answer = await dashboard.get(f"/api/trace/{chain.correlation_id}", headers=headers)
            return answer.json() if answer.status_code == 200 and answer.json()["events"] == 3 else None

        as_operator = await eventually(lambda: traced(OPERATOR), timeout=30)
        as_regulator = await traced(REGULATOR)
        assert [r["type"] for r in as_operator["roots"]] == [r["type"] for r in as_regulator["roots"]]
        assert "overheats" in as_regulator["roots"][0]["summary"]
        assert "overheats" not in str(as_operator)

        def spot_check(events: list[dict]) -> dict:
            return next(e for e in events if e["id"] == chain.spot_check.id)

        history = (await dashboard.get("/api/search", params={"q": chain.number}, headers=OPERATOR)).json()["events"]
        seen = spot_check(history)
        assert seen["payload"]["findings"] == "(withheld: regulator only)"
        assert seen["payload"]["certificate_numbers"] == [chain.number]  # the facts of the cascade stay
        assert seen["correlation_id"] == chain.correlation_id
        kept = (await dashboard.get("/api/events", params={"limit": 2000}, headers=OPERATOR)).json()
        assert spot_check(kept)["payload"]["findings"] == "(withheld: regulator only)"
        kept = (await dashboard.get("/api/events", params={"limit": 2000}, headers=REGULATOR)).json()
        assert "overheats" in spot_check(kept)["payload"]["findings"]
