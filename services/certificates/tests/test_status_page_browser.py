"""The public status page in a real headless browser (Debian's Chromium, driven by Playwright),
on a phone-sized screen: the status reads at once, the page fits the screen without sideways
scrolling, its own style applies under its Content-Security-Policy (no violation reported), and
the language follows the browser's. The app is served by uvicorn without its lifespan (no
broker: the page reads only the database)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from playwright.async_api import async_playwright, expect

from conformity_shared.runtime import ServiceRuntime
from conformity_devstack.factories import agency, approval_granted, certificate_request, new_uscc
from conformity_devstack.kafka import free_port

from certificates import consumers, service
from certificates.commands import IssueCertificate, SuspendCertificate

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[3] / "artifacts"
PHONE = {"width": 390, "height": 844}


@contextmanager
def served(app: FastAPI) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, name="status-page", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the certificates app did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


async def test_the_status_page_reads_on_a_phone_in_the_browsers_language(app: FastAPI, runtime: ServiceRuntime) -> None:
    assert Path(CHROMIUM).exists(), "Debian's chromium is needed: `make system-deps` (apt-get install -y chromium)"
    body = new_uscc()
    async with runtime.unit_of_work() as uow:
        uow.cause_event_id = "grant"
        await consumers.handlers(runtime)[type(granted := approval_granted(body, ["MS-QMS"]))](uow, granted)
        await uow.commit()
    number = (await service.issue(runtime, agency(body), IssueCertificate(**certificate_request(new_uscc()))))["number"]
    await service.suspend(runtime, agency(body), SuspendCertificate(number=number, reason="misuse"))
    ARTIFACTS.mkdir(exist_ok=True)
    with served(app) as url:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                for locale, expected in (("zh-CN", "暂停"), ("en-GB", "Suspended")):
                    context = await browser.new_context(viewport=PHONE, locale=locale, is_mobile=True)
                    page = await context.new_page()
                    problems: list[str] = []
                    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
                    answer = await page.goto(f"{url}/public/certificates/{number}/page")
                    assert answer is not None and answer.status == 200
                    status = page.locator("#status")
                    await expect(status).to_have_text(expected)
                    # the inline style applied (its hash is in the policy): the suspended colour scheme
                    colour = await status.evaluate("e => getComputedStyle(e).backgroundColor")
                    assert colour == "rgb(255, 244, 214)", colour
                    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
                    assert problems == []
                    await page.screenshot(path=str(ARTIFACTS / f"certificate-status-page-{locale}.png"), full_page=True)
                    await context.close()
            finally:
                await browser.close()
