"""`conformity demo` against the real services (in this process) and the real broker."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
import pytest

from conformity_devstack.kafka import free_port
from conformity_devstack.testing import running, sign_token
from conformity_operators.demo import Demo
from conformity_operators.platform_api import PlatformApi
from conformity_operators.causal_trace import Trace

from approval.app import create_app as approval_app
from certificates.app import create_app as certificates_app
from proficiency.app import create_app as proficiency_app
from supervision.app import create_app as supervision_app


class Recorder:
    """The demo's narration, kept for the assertions."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []
        self.cascades: list[Trace] = []
        self.advanced = 0

    def section(self, title: str, text: str) -> None:
        self.lines.append(("section", title))

    def step(self, text: str) -> None:
        self.lines.append(("step", text))

    def done(self, text: str) -> None:
        self.lines.append(("done", text))

    def degraded(self, text: str) -> None:
        self.lines.append(("degraded", text))

    def failed(self, text: str) -> None:
        self.lines.append(("failed", text))

    @contextmanager
    def progress(self, total: int, label: str) -> Iterator[Callable[[str], None]]:
        def advance(text: str) -> None:
            self.advanced += 1

        yield advance

    def cascade(self, trace: Trace, names: object) -> None:
        self.cascades.append(trace)


@pytest.mark.integration
async def test_the_demo_seeds_a_world_and_plays_the_flows_the_running_services_offer(service_env, kafka: str) -> None:
    narrator = Recorder()
    async with (
        running(approval_app()) as approval,
        running(certificates_app()) as certificates,
        running(supervision_app()) as supervision,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{free_port()}") as proficiency,  # not running here
    ):
        api = PlatformApi(
            {"approval": approval, "certificates": certificates, "supervision": supervision, "proficiency": proficiency},
            sign_token,
        )
        outcomes = await Demo(api, narrator, bootstrap=kafka, seed=11, timeout=40).run()

    status = {o.flow[0]: o.status for o in outcomes}
    assert status["1"] == status["2"] == status["3"] == "shown", narrator.lines
    assert status["4"] == "degraded"  # no proficiency service in this test
    assert status["5"] in ("explained", "shown")  # shown once certificates offers a due-transition hook
    assert narrator.advanced == 15
    assert not [text for kind, text in narrator.lines if kind == "failed"]
    degraded = " ".join(text for kind, text in narrator.lines if kind == "degraded")
    assert "the proficiency service does not answer" in degraded
    # Flow 3's next draw walks the whole campaign: commitments, freeze, reveals, beacon, draw.
    assert "next draw not shown" not in degraded
    assert any(kind == "done" and "drawn with seed" in text for kind, text in narrator.lines), narrator.lines

    spot_check, rectification, breach = narrator.cascades[:3]
    assert [c.event.type for c in spot_check.roots[0].children] == ["certificate.suspended.v1"]
    assert [c.event.type for c in rectification.roots[0].children] == ["certificate.reinstated.v1"]
    types = {n.event.type for n in breach.nodes()}
    assert {"approval.commitment_breached.v1", "approval.revoked.v1", "supervision.credit_class_changed.v1"} <= types
    revoked = next(n for n in breach.nodes() if n.event.type == "approval.revoked.v1")
    assert [c.event.type for c in revoked.children] == ["certificate.suspended.v1", "certificate.suspended.v1"]


@pytest.mark.integration
async def test_with_proficiency_running_a_lab_failing_twice_has_its_field_suspended(service_env, kafka: str) -> None:
    narrator = Recorder()
    async with (
        running(approval_app()) as approval,
        running(certificates_app()) as certificates,
        running(supervision_app()) as supervision,
        running(proficiency_app()) as proficiency,
    ):
        api = PlatformApi(
            {"approval": approval, "certificates": certificates, "supervision": supervision, "proficiency": proficiency},
            sign_token,
        )
        demo = Demo(api, narrator, bootstrap=kafka, seed=12, timeout=40)
        await demo.preflight()
        await demo.seed()
        outcome = await demo.flow_4()

    assert outcome.status == "shown", narrator.lines
    lab = demo.world.labs[0]
    assert outcome.detail == f"{lab.name}: {lab.fields[0]} suspended"
    [cascade] = narrator.cascades
    types = [n.event.type for n in cascade.nodes()]
    assert "proficiency.lab_field_suspension_required.v1" in types and "approval.suspended.v1" in types
    required = next(n for n in cascade.nodes() if n.event.type == "proficiency.lab_field_suspension_required.v1")
    assert "approval.suspended.v1" in [c.event.type for c in required.children]
