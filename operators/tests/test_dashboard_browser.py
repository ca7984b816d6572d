"""The dashboard in a real headless browser (Debian's Chromium, driven by Playwright): the operator
signs in through the development issuer's page (authorization code with PKCE), then a failed spot
check, triggered through the services' APIs, appears in the live stream and in the cascade."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Iterator
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from playwright.async_api import Page, async_playwright, expect

from conformity_shared import uscc
from conformity_shared.auth import Role
from conformity_devstack import identity
from conformity_devstack.kafka import free_port
from conformity_devstack.testing import eventually, running, token
from conformity_operators.dashboard.app import create_app as dashboard_app
from conformity_operators.settings import DashboardSettings

from approval.app import create_app as approval_app
from certificates.app import create_app as certificates_app
from supervision.app import create_app as supervision_app

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
REGULATOR = token(Role.REGULATOR)


@contextmanager
def served(app_at: Callable[[str], FastAPI], name: str) -> Iterator[str]:
    """An app on a real port (the browser must reach it), in a thread with its own loop;
    `app_at(url)` builds it knowing its own URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = uvicorn.Server(
        uvicorn.Config(app_at(url), host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=2)
    )
    thread = threading.Thread(target=server.run, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the {name} did not start")
        time.sleep(0.05)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(15)


async def approved_body_issues_certificate(approval: httpx.AsyncClient, certs: httpx.AsyncClient, body: str, holder: str) -> str:
    agency = token(Role.AGENCY, org=body)
    granted = await approval.post("/applications", headers=agency, json={
        "organisation_uscc": body, "organisation_name": "Fujian Certification Co.", "kind": "certification_body",
        "path": "commitment", "requested_fields": ["MS-QMS"],
        "declared": {"staff_per_field": {"MS-QMS": 12}, "registered_capital_rmb": 5_000_000,
                     "premises": "Fuzhou, Gulou district", "management_system": "ISO/IEC 17021-1 manual v3"},
        "commitment_text": "We commit that every condition is met. Signed: Li Wei, legal representative.",
    })
    assert granted.status_code == 201, granted.text

    async def issue() -> str | None:
        answer = await certs.post("/certificates", headers=agency, json={
            "holder_uscc": holder, "holder_name": "Beijing Kettle Works", "scheme": "management_system",
            "field": "MS-QMS", "product": "Design and manufacture of electric kettles", "standard": "GB/T 19001-2016",
        })
        if answer.status_code == 201:
            return answer.json()["number"]
        assert answer.status_code == 422, answer.text  # until approval.granted has reached certificates
        return None

    return await eventually(issue, timeout=30)


async def record_failed_spot_check(sup: httpx.AsyncClient, holder: str, number: str, correlation_id: str) -> str:
    inspector, second = f"insp-{uuid.uuid4().hex[:8]}", f"insp-{uuid.uuid4().hex[:8]}"
    for inspector_id in (inspector, second):  # at least two, as a draw assigns
        registered = await sup.post("/inspectors", headers=REGULATOR, json={
            "id": inspector_id, "name": "Zhang San", "organisation": uscc.make(random.Random()), "region": "110000"})
        assert registered.status_code == 201, registered.text
    ordered = await sup.post("/inspections", headers=REGULATOR, json={
        "target_uscc": holder, "target_kind": "enterprise", "kind": "product_spot_check",
        "inspector_ids": [inspector, second]})
    assert ordered.status_code == 201, ordered.text
    recorded = await sup.post(
        f"/inspections/{ordered.json()['id']}/result",
        headers={**token(Role.INSPECTOR, inspector_id=inspector), "X-Correlation-ID": correlation_id},
        json={"findings": "sample overheats (GB 4706.19 clause 11)",
              "samples": [{"certificate_number": number, "passed": False, "finding": "overheating"}]},
    )
    assert recorded.status_code == 200, recorded.text
    return ordered.json()["id"]


@contextmanager
def issuer_and_dashboard(kafka: str, keys: Path) -> Iterator[str]:
    """The development issuer, and the dashboard trusting it (its published keys, fetched) and
    signing its users in through it; yields the dashboard's URL."""
    with served(lambda url: identity.create_app(identity.DevIssuerSettings(url=url, keys=keys)), "issuer") as issuer:
        def dashboard_at(url: str) -> FastAPI:
            return dashboard_app(DashboardSettings(
                kafka_bootstrap_servers=kafka, dashboard_url=url, env="development", oidc_issuer=issuer, oidc_jwks=None))

        with served(dashboard_at, "dashboard") as url:
            yield url


async def sign_in_as_operator(page: Page, url: str) -> None:
    """Open the dashboard: it sends the browser to the issuer's development sign-in, and back."""
    await page.goto(url)
    await expect(page.locator("#development-warning")).to_contain_text("Development sign-in")
    await page.select_option("#role", "operator")
    await page.fill("#subject", "ops-duty")
    await page.click("#sign-in")
    await expect(page.locator("#viewer")).to_have_text("operator · ops-duty", timeout=15_000)


@pytest.mark.integration
async def test_a_failed_spot_check_appears_in_the_live_stream_and_the_cascade(service_env, kafka: str, tmp_path: Path) -> None:
    assert Path(CHROMIUM).exists(), "Debian's chromium is needed: `make system-deps` (apt-get install -y chromium)"
    rng = random.Random()
    body, holder = uscc.make(rng), uscc.make(rng)
    correlation_id = str(uuid.uuid4())
    ARTIFACTS.mkdir(exist_ok=True)
    with issuer_and_dashboard(kafka, tmp_path / "issuer-keys") as url:
        async with (
            running(approval_app()) as approval,
            running(certificates_app()) as certs,
            running(supervision_app()) as sup,
            async_playwright() as playwright,
        ):
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = await browser.new_page(viewport={"width": 1440, "height": 1100})
                await sign_in_as_operator(page, url)
                await expect(page.locator("#live")).to_have_text("live", timeout=15_000)
                await expect(page.locator("#broker")).to_have_text("broker connected", timeout=30_000)
                # Each service's AsyncAPI document is one click away (read offline, and as JSON).
                links = page.locator("#asyncapi-links a:not(.json)")
                await expect(links).to_have_text(["approval", "certificates", "supervision", "proficiency", "notifications"])
                await expect(links.first).to_have_attribute("href", "/static/asyncapi.html?service=approval")

                number = await approved_body_issues_certificate(approval, certs, body, holder)
                stream = page.locator("#stream-rows")
                await expect(stream.locator(f'tr[data-type="certificate.issued.v1"][data-subject="{number}"]')).to_be_visible(timeout=30_000)

                inspection = await record_failed_spot_check(sup, holder, number, correlation_id)

                # The live stream shows the suspension, with its reason, as it happens.
                suspended = stream.locator(f'tr[data-type="certificate.suspended.v1"][data-subject="{number}"]')
                await expect(suspended).to_be_visible(timeout=30_000)
                await expect(suspended).to_contain_text("reason spot_check_failed")
                spot_row = stream.locator(f'tr[data-type="supervision.spot_check_failed.v1"][data-subject="{inspection}"]')
                await expect(spot_row).to_be_visible()
                await expect(spot_row).to_contain_text("findings (withheld: regulator only)")  # an operator's view

                # Clicking it draws its cascade: the suspension under the spot check that caused it.
                await suspended.click()
                cascade = page.locator("#cascade")
                await expect(cascade.locator(".tree-root")).to_contain_text(correlation_id, timeout=15_000)
                spot_check = cascade.locator('li:has(> .node[data-type="supervision.spot_check_failed.v1"])')
                await expect(spot_check).to_have_count(1)
                caused = spot_check.locator(':scope > ul > li > .node[data-type="certificate.suspended.v1"]')
                await expect(caused).to_be_visible()
                await expect(caused).to_contain_text(number)
                await expect(caused.locator(".delay")).to_contain_text("+")

                # The certificate's history across services.
                await page.fill("#search-input", number)
                await page.click("#search-form button")
                history = page.locator("#search-results ol.history")
                await expect(history.locator('li[data-type="certificate.issued.v1"]')).to_have_count(1, timeout=15_000)
                await expect(history.locator('li[data-type="certificate.suspended.v1"]')).to_have_count(1)

                await page.screenshot(path=str(ARTIFACTS / "dashboard-spot-check-cascade.png"), full_page=True)
            finally:
                await browser.close()
