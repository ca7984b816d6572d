"""The portal in a real headless browser (Debian's Chromium, driven by Playwright) against the
real platform: the development issuer, the services on the session's Kafka broker and the portal,
each a process started by devstack's `Stack` as `make run` starts them. Users sign in through the
issuer's development page (authorization code with PKCE); everything else is what they see.

One stack for the module, one browser, one context per user. `CONFORMITY_PORTAL_SCREENSHOTS=1`
also writes the README's screenshots into portal/docs/.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import random
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from conformity_shared import uscc
from conformity_devstack.dev_keys import KeyStore, access_token
from conformity_devstack.factories import application, blind_sample, proficiency_round, standard_application
from conformity_devstack.stack import Stack

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
DOCS = ROOT / "portal" / "docs"
SERVICES_USED = ("approval", "certificates", "proficiency")  # and supervision, absent here (see `platform`)
TIMEOUT = 15_000

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]


@dataclass
class Platform:
    stack: Stack
    issuer: str

    @property
    def portal(self) -> str:
        return self.stack.url("portal")

    def headers(self, role: str, org: str | None = None) -> dict[str, str]:
        """A bearer token of the running development issuer (what its sign-in would hand out)."""
        keys = KeyStore(Path(os.environ["CONFORMITY_DEV_ISSUER_KEYS"]))
        return {"Authorization": "Bearer " + access_token(keys.signing_key(), role, org=org, issuer=self.issuer)}

    def client(self, service: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.stack.url(service), timeout=30)


@pytest.fixture(scope="module")
def platform(kafka: str) -> Iterator[Platform]:
    assert Path(CHROMIUM).exists(), "Debian's chromium is needed: `make system-deps` (apt-get install -y chromium)"
    workdir = Path(tempfile.mkdtemp(prefix="conformity-portal-"))
    stack = Stack(workdir, kafka, env={"CONFORMITY_LOG_JSON": "false", "CONFORMITY_OUTBOX_POLL_SECONDS": "0.5"})
    try:
        issuer = stack.start_identity()
        stack.start(SERVICES_USED)
        stack.env.update({f"CONFORMITY_{s.upper()}_URL": stack.url(s) for s in SERVICES_USED})
        # Supervision is not started (the tier stays lean): the portal finds nothing listening
        # there, and its pages do without the credit class and the inspector suggestions.
        stack.env["CONFORMITY_SUPERVISION_URL"] = f"http://127.0.0.1:{_free_port()}"
        stack.env["CONFORMITY_PORTAL_URL"] = f"http://127.0.0.1:{stack.ports.setdefault('portal', _free_port())}"
        stack.start_service("portal")
    except RuntimeError as exc:
        stack.stop()
        pytest.fail(f"the platform did not start: {exc}", pytrace=False)
    yield Platform(stack, issuer)
    stack.stop()


def _free_port() -> int:
    from conformity_devstack.kafka import free_port

    return free_port()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


async def signed_in(browser: Browser, platform: Platform, home: str, role: str, org: str | None = None,
                    **context: object) -> tuple[BrowserContext, Page]:
    """A new browser context (its own cookies) signed in through the issuer's development page."""
    ctx = await browser.new_context(**{"viewport": {"width": 1280, "height": 900}, **context})
    page = await ctx.new_page()
    await page.goto(platform.portal + home)  # not signed in: off to the issuer and back
    await expect(page.locator("#development-warning")).to_contain_text("Development sign-in")
    await page.select_option("#role", role)
    if org:
        await page.fill("#org", org)
    await page.click("#sign-in")
    await expect(page.locator("#viewer")).to_contain_text(org or role, timeout=TIMEOUT)
    return ctx, page


async def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"portal-{name}.png"), full_page=True)
    if os.environ.get("CONFORMITY_PORTAL_SCREENSHOTS"):
        DOCS.mkdir(exist_ok=True)
        await page.screenshot(path=str(DOCS / f"{name}.png"), full_page=True)


async def fill_application(page: Page, *, staff: str, capital: str) -> None:
    await page.fill("#organisation_name", "福建认证有限公司")
    await page.check("#field-MS-QMS")
    await page.fill("#staff-MS-QMS", staff)
    await page.fill("#registered_capital_rmb", capital)
    await page.fill("#premises", "福州市鼓楼区")
    await page.fill("#management_system", "ISO/IEC 17021-1 管理手册 v3")
    await page.fill("#commitment_text", "本机构承诺满足全部条件。签字：李伟")


async def test_an_agency_is_refused_with_its_failed_rules_then_granted_on_commitment_and_issues(
    platform: Platform, browser: Browser
) -> None:
    body, holder = uscc.make(random.Random()), uscc.make(random.Random())
    ctx, page = await signed_in(browser, platform, "/agency", "agency", body)
    refused: list[str] = []  # what the page's policy blocked, and script errors
    page.on("console", lambda message: refused.append(message.text)
            if message.type == "error" and "Content Security Policy" in message.text else None)
    page.on("pageerror", lambda error: refused.append(str(error)))
    try:
        await expect(page.locator("h1")).to_have_text("机构办事")  # Chinese by default
        await page.click("#apply-commitment")
        await expect(page.locator("#commitment_text-hint")).to_contain_text("承诺")
        await expect(page.locator('.field-row[data-code="MS-QMS"] .risk')).to_be_visible()

        # Too few staff and too little capital: refused, each failed rule beside its field,
        # listed in the summary at the top, which takes the focus and links to the fields.
        await fill_application(page, staff="3", capital="1000000")
        await page.click("#submit-application")
        summary = page.locator("#error-summary")
        await expect(summary).to_be_focused(timeout=TIMEOUT)
        await expect(summary.locator('li[data-rule="staff_below_minimum"] a')).to_have_attribute("href", "#staff-MS-QMS")
        await expect(summary.locator('li[data-rule="registered_capital_below_minimum"] a')).to_have_attribute(
            "href", "#registered_capital_rmb")
        await expect(page.locator("#staff-MS-QMS")).to_have_attribute("aria-invalid", "true")
        await expect(page.locator('#staff-MS-QMS ~ .field-error[data-rule="staff_below_minimum"]')).to_contain_text("专职人员不足")
        await expect(page.locator("#refused")).to_be_visible()
        await expect(page.locator("#staff-MS-QMS")).to_have_value("3")  # what was typed is kept
        await shot(page, "apply-refused")
        await summary.locator('li[data-rule="staff_below_minimum"] a').press("Enter")  # the keyboard reaches the field
        await expect(page.locator("#staff-MS-QMS")).to_be_focused()

        # Corrected: granted on the spot.
        await page.fill("#staff-MS-QMS", "12")
        await page.fill("#registered_capital_rmb", "5000000")
        await page.click("#submit-application")
        await expect(page.locator("#flash")).to_have_text("申请已批准。", timeout=TIMEOUT)
        await expect(page.locator("#application-status")).to_have_text("已批准")

        # English, remembered by a cookie.
        await page.click("#lang-en")
        await expect(page.locator("#flash")).to_have_count(0)
        await expect(page.locator("#application-status")).to_have_text("granted")
        await expect(page.locator("html")).to_have_attribute("lang", "en")
        await page.goto(platform.portal + "/agency/certificates/new")
        await expect(page.locator("h1")).to_have_text("Issue a certificate")

        # Issue within the approved scope (the certificates service learns of the grant from its
        # event: until then it refuses, and the page says why).
        async def issued() -> bool:
            await page.goto(platform.portal + "/agency/certificates/new")
            if await page.locator("#field option").count() == 0:
                return False
            await page.fill("#holder_uscc", holder)
            await page.fill("#holder_name", "Beijing Kettle Works")
            await page.select_option("#scheme", "management_system")
            await page.select_option("#field", "MS-QMS")
            await page.fill("#product", "Design and manufacture of electric kettles")
            await page.fill("#standard", "GB/T 19001-2016")
            await page.click("#submit-certificate")
            await expect(page.locator("#flash, #error-summary").first).to_be_visible(timeout=TIMEOUT)
            return await page.locator("#flash").count() == 1

        for _ in range(30):
            if await issued():
                break
            await asyncio.sleep(1)
        await expect(page.locator("#flash")).to_have_text("The certificate was issued.")
        await expect(page.locator("#certificate-status")).to_have_text("valid")  # English still
        number = (await page.locator("#certificate-number").text_content() or "").strip()
        await shot(page, "certificate")

        # A CSV of two rows: one issued, one refused with its field named in the row's report.
        await page.goto(platform.portal + "/agency/certificates/upload")
        csv = ("holder_uscc,holder_name,scheme,field,product,standard\n"
               f"{holder},Beijing Kettle Works,management_system,MS-QMS,Kettles line 2,GB/T 19001-2016\n"
               "NOT-A-CODE,Nobody,management_system,MS-QMS,Kettles,GB/T 19001-2016\n")
        await page.set_input_files("#file", files=[{"name": "certificates.csv", "mimeType": "text/csv",
                                                    "buffer": csv.encode()}])
        await page.click("#submit-upload")
        await expect(page.locator("#upload-totals")).to_have_text("1 certificates issued · 1 rows refused", timeout=TIMEOUT)
        await expect(page.locator('#upload-report tr[data-line="2"].ok a')).to_be_visible()
        await expect(page.locator('#upload-report tr[data-line="3"].refused')).to_contain_text("holder_uscc")
        await shot(page, "upload-report")

        await page.goto(platform.portal + "/agency")
        await expect(page.locator(f'#certificates tr[data-number="{number}"] [data-status]')).to_have_attribute(
            "data-status", "valid")
        await expect(page.locator("#certificates tbody tr")).to_have_count(2)
        await expect(page.locator("#applications tbody tr")).to_have_count(2)  # the refused one and the granted one
        await page.click("#lang-zh")
        await expect(page.locator("h1")).to_have_text("机构办事")
        await shot(page, "agency-home")
        # Nothing the pages do is refused by their policy (own files only), and no script failed.
        assert refused == []
    finally:
        await ctx.close()


async def test_the_apply_form_fits_a_phone(platform: Platform, browser: Browser) -> None:
    ctx, page = await signed_in(browser, platform, "/agency/apply?path=commitment", "agency",
                                uscc.make(random.Random()), viewport={"width": 390, "height": 844}, is_mobile=True)
    try:
        await expect(page.locator("#apply-form")).to_be_visible()
        # Choosing the kind brings that kind's fields (htmx swaps the rows in, no reload).
        await expect(page.locator('.field-row[data-code="MS-QMS"]')).to_have_count(1)
        await page.select_option("#kind", "testing_lab")
        await expect(page.locator('.field-row[data-code="MS-QMS"]')).to_have_count(0)
        await expect(page.locator('.field-row[data-code^="TL-"]').first).to_be_visible()
        overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"the page is {overflow}px wider than the phone's screen"
        await shot(page, "apply-phone")
    finally:
        await ctx.close()


async def test_another_organisations_objects_never_appear(platform: Platform, browser: Browser) -> None:
    rng = random.Random()
    first, other, holder = uscc.make(rng), uscc.make(rng), uscc.make(rng)
    agency = platform.headers("agency", first)
    async with platform.client("approval") as approval, platform.client("certificates") as certificates:
        granted = await approval.post("/applications", headers=agency, json=application(first, "commitment"))
        assert granted.status_code == 201, granted.text
        number = None
        for _ in range(60):
            answer = await certificates.post("/certificates", headers=agency, json={
                "holder_uscc": holder, "holder_name": "Kettle Works", "scheme": "management_system", "field": "MS-QMS",
                "product": "kettles", "standard": "GB/T 19001-2016"})
            if answer.status_code == 201:
                number = answer.json()["number"]
                break
            await asyncio.sleep(0.5)
        assert number, "the certificates service did not learn of the grant"
        # The regulator suspends the approval with its reason; its commitment's verification waits.
        approval_id = granted.json()["approval_id"]
        regulator = platform.headers("regulator")
        suspended = await approval.post(f"/approvals/{approval_id}/suspend", headers=regulator,
                                        json={"reason": "现场核查发现人员不足"})
        assert suspended.status_code == 200, suspended.text
        verification_id = suspended.json()["verifications"][0]["id"]
    application_id = granted.json()["id"]

    # The regulator assigns the verification from its page: refused without an inspector (beside
    # the input, in the summary), then assigned.
    reg_ctx, desk = await signed_in(browser, platform, "/regulator/verifications", "regulator")
    try:
        row = desk.locator(f'#verifications li[data-id="{verification_id}"]')
        await row.locator("button").click()
        await expect(desk.locator("#error-summary")).to_be_focused(timeout=TIMEOUT)
        await expect(desk.locator(f"#inspector-{verification_id}")).to_have_attribute("aria-invalid", "true")
        await desk.locator(f"#inspector-{verification_id}").fill("INS-PORTAL-1")
        await desk.locator(f"#inspector-{verification_id}").press("Enter")  # the keyboard submits
        await expect(desk.locator("#flash")).to_have_text("已指派。", timeout=TIMEOUT)
        await expect(desk.locator(f'#verifications li[data-id="{verification_id}"]')).to_contain_text("INS-PORTAL-1")
    finally:
        await reg_ctx.close()

    # The agency itself sees the suspension with its reason, and its verification.
    ctx, page = await signed_in(browser, platform, "/agency", "agency", first)
    try:
        await expect(page.locator("#suspended-notice")).to_be_visible()
        await page.click("#supervision-link")
        await expect(page.locator(f'#suspensions tr[data-approval="{approval_id}"][data-action="suspended"]')).to_contain_text(
            "现场核查发现人员不足")
        await expect(page.locator(f'#verifications tr[data-id="{verification_id}"] [data-status]')).to_have_attribute(
            "data-status", "scheduled")
        await expect(page.locator("#credit-unknown")).to_be_visible()  # supervision is not running here
        await shot(page, "agency-supervision")
    finally:
        await ctx.close()

    ctx, page = await signed_in(browser, platform, "/agency", "agency", other)
    try:
        content = await page.content()
        assert application_id[:8] not in content and number not in content and first not in content
        await page.goto(platform.portal + "/agency/supervision")
        content = await page.content()
        assert "现场核查发现人员不足" not in content and verification_id[:8] not in content and approval_id not in content
        await expect(page.locator("#suspended-notice")).to_have_count(0)
        await page.goto(platform.portal + f"/agency/certificates/{number}")
        await expect(page.locator("h1")).to_have_text("未找到，或您无权查看。")
        await page.goto(platform.portal + f"/agency/applications/{application_id}")
        await expect(page.locator("h1")).to_have_text("未找到，或您无权查看。")
        await page.goto(platform.portal + "/regulator")  # not a regulator
        await expect(page.locator("h1")).to_have_text("此角色在门户中没有页面。")
    finally:
        await ctx.close()


async def test_a_lab_submits_and_sees_its_score_once_the_regulator_closes_the_round(
    platform: Platform, browser: Browser
) -> None:
    rng = random.Random()
    lab, other_lab = uscc.make(rng), uscc.make(rng)
    peers = {uscc.make(rng): value for value in (9.4, 9.8, 10.5, 10.9, 11.7)}  # z: -1.2 … +3.4
    regulator = platform.headers("regulator")
    deadline = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=20)
    async with platform.client("proficiency") as proficiency, platform.client("approval") as approval:
        created = await proficiency.post("/rounds", headers=regulator, json=proficiency_round(
            [lab, *peers], deadline, measurand="lead in rice flour"))
        assert created.status_code == 201, created.text
        for peer, value in peers.items():
            peer_result = await proficiency.post(f"/rounds/{created.json()['id']}/results",
                                                 headers=platform.headers("lab", peer), json={"value": value})
            assert peer_result.status_code == 201, peer_result.text
        hidden = await proficiency.post("/rounds", headers=regulator, json=proficiency_round([other_lab], deadline))
        assert hidden.status_code == 201, hidden.text
        # An application on the ordinary path waits in the regulator's queue.
        standard_org = uscc.make(rng)
        submitted = await approval.post("/applications", headers=platform.headers("agency", standard_org),
                                        json=standard_application(standard_org))
        assert submitted.status_code == 201, submitted.text
        sample = await proficiency.post("/blind-samples", headers=regulator, json=blind_sample(lab))
        assert sample.status_code == 201, sample.text
    round_id, sample_id = created.json()["id"], sample.json()["id"]

    lab_ctx, page = await signed_in(browser, platform, "/lab", "lab", lab)
    try:
        await expect(page.locator(f'#rounds tr[data-id="{round_id}"]')).to_be_visible()
        await expect(page.locator(f'#rounds tr[data-id="{hidden.json()["id"]}"]')).to_have_count(0)  # not enrolled
        await page.click(f'#rounds tr[data-id="{round_id}"] a')
        # U without k: refused, beside k.
        await page.fill("#value", "10.2")
        await page.fill("#expanded_uncertainty", "0.2")
        await page.click("#submit-result")
        await expect(page.locator("#error-summary")).to_be_focused(timeout=TIMEOUT)
        await expect(page.locator("#coverage_factor")).to_have_attribute("aria-invalid", "true")
        await page.fill("#coverage_factor", "2")
        await page.click("#submit-result")
        await expect(page.locator("#flash")).to_have_text("结果已提交。", timeout=TIMEOUT)
        await expect(page.locator("#scores-pending")).to_be_visible()
        await expect(page.locator("#result-form")).to_have_count(0)  # one result per lab

        # A sample to test (a blind sample, which the lab is not told): reported once, from its page.
        await page.goto(platform.portal + "/lab")
        await page.click(f'#samples tr[data-id="{sample_id}"] a')
        await page.fill("#value", "0.21")
        await page.click("#submit-sample")
        await expect(page.locator("#flash")).to_have_text("结果已提交。", timeout=TIMEOUT)
        await expect(page.locator("#sample-status")).to_have_attribute("data-status", "reported")
        await expect(page.locator("#sample-form")).to_have_count(0)
    finally:
        await lab_ctx.close()

    reg_ctx, desk = await signed_in(browser, platform, "/regulator", "regulator")
    try:
        row = desk.locator(f'#to-accept li[data-id="{submitted.json()["id"]}"]')
        await row.locator("button").click()
        await expect(desk.locator("#flash")).to_be_visible(timeout=TIMEOUT)
        decide = desk.locator(f'#to-decide li[data-id="{submitted.json()["id"]}"]')
        await expect(decide).to_contain_text("剩余工作日")
        await shot(desk, "regulator-desk")

        # Past its 20 working days (judged on a later day), it is on the overdue list.
        await desk.click("#overdue-link")
        later = (dt.date.today() + dt.timedelta(days=45)).isoformat()
        await desk.fill("#as_of", later)
        await desk.click("#overdue-show")
        await expect(desk.locator("#judged-on")).to_contain_text(later, timeout=TIMEOUT)
        await expect(desk.locator(f'#overdue-applications tr[data-id="{submitted.json()["id"]}"]')).to_contain_text("已逾期")
        await shot(desk, "regulator-overdue")
        await desk.goto(platform.portal + "/regulator")
        await decide.locator('button[type="submit"]').click()  # grant (the default choice)
        await expect(desk.locator("#flash")).to_be_visible(timeout=TIMEOUT)
        await expect(desk.locator(f'#to-decide li[data-id="{submitted.json()["id"]}"]')).to_have_count(0)

        await asyncio.sleep(max(0.0, (deadline - dt.datetime.now(dt.UTC)).total_seconds() + 0.5))
        await desk.goto(platform.portal + "/regulator")
        await desk.click(f"#close-{round_id}")
        await expect(desk.locator("#flash")).to_be_visible(timeout=TIMEOUT)
        await expect(desk.locator(f"#close-{round_id}")).to_have_count(0)
    finally:
        await reg_ctx.close()

    lab_ctx, page = await signed_in(browser, platform, f"/lab/rounds/{round_id}", "lab", lab)
    try:
        await expect(page.locator("#round-status")).to_have_text("已关闭")
        await expect(page.locator("#score")).to_have_text("0.40")  # (10.2 - 10.0) / 0.5
        await expect(page.locator("#signal")).to_have_attribute("data-status", "acceptable")
        await expect(page.locator("#signal")).to_have_text("满意")
        # The plot of every participant's score, anonymised, its own point marked, and its table.
        await expect(page.locator("#round-plot")).to_have_attribute("role", "img")
        await expect(page.locator("#round-plot circle.point")).to_have_count(6)
        await expect(page.locator("#round-plot circle.point.yours")).to_have_count(1)
        await expect(page.locator("#round-plot circle.point.signal-action")).to_have_count(1)  # 11.7: z = 3.4
        await expect(page.locator("#round-plot-desc")).to_contain_text("0.40")
        await expect(page.locator("#plot-yours")).to_contain_text("0.40")
        await expect(page.locator("#plot-table tbody tr")).to_have_count(6)
        content = await page.content()
        assert other_lab not in content and not any(peer in content for peer in peers)  # anonymised
        await shot(page, "lab-round")
        # On a phone the plot shrinks to the screen; only the table scrolls, inside its box.
        await page.set_viewport_size({"width": 390, "height": 844})
        overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"the page is {overflow}px wider than the phone's screen"
        assert await page.evaluate("document.getElementById('round-plot').getBoundingClientRect().width") <= 390
    finally:
        await lab_ctx.close()

    # Another lab sees neither the round nor the sample, on its page or at their addresses.
    lab_ctx, page = await signed_in(browser, platform, "/lab", "lab", other_lab)
    try:
        content = await page.content()
        assert round_id not in content and sample_id not in content
        await page.goto(platform.portal + f"/lab/samples/{sample_id}")
        await expect(page.locator("h1")).to_have_text("未找到，或您无权查看。")
        await page.goto(platform.portal + f"/lab/rounds/{round_id}")
        await expect(page.locator("h1")).to_have_text("未找到，或您无权查看。")
    finally:
        await lab_ctx.close()
