"""The public verification endpoints as an anonymous client meets them: a budget per client
(429 with Retry-After past it, naming the rule), a body size limit (413), and the security
headers on every answer, including the refusals."""

from __future__ import annotations

import httpx
import pytest

PARAM = {"public_requests_per_window": 3, "public_rate_window_seconds": 60, "max_request_body_bytes": 4096,
         "public_verify_numbers_per_window": 1000}


@pytest.mark.parametrize("settings", [PARAM], indirect=True)
async def test_one_client_past_its_budget_is_told_to_wait_and_another_is_not(client: httpx.AsyncClient) -> None:
    answers = [await client.get("/public/certificates/CNCA-NOPE-1") for _ in range(4)]
    assert [a.status_code for a in answers] == [404, 404, 404, 429]
    refused = answers[-1]
    assert 0 < int(refused.headers["retry-after"]) <= 120
    body = refused.json()
    assert (body["limit"], body["window_seconds"]) == (3, 60)
    assert body["rule"] and body["rule"] in body["detail"]
    other = await client.get("/public/certificates/CNCA-NOPE-1", headers={"x-forwarded-for": "203.0.113.9"})
    assert other.status_code == 429  # no trusted proxy: a forwarded address changes nothing


@pytest.mark.parametrize("settings", [{**PARAM, "public_requests_per_window": 100}], indirect=True)
async def test_bulk_verification_spends_one_unit_per_number(client: httpx.AsyncClient) -> None:
    numbers = [f"N-{i:04d}" for i in range(150)]  # 150 x ~10 bytes stays under the 4 KB body limit
    spent = [await client.post("/public/certificates/verify", json={"numbers": numbers}) for _ in range(8)]
    codes = [a.status_code for a in spent]
    assert codes[:6] == [200] * 6  # 900 numbers of the 1,000 budget
    assert codes[6] == 429 and int(spent[6].headers["retry-after"]) > 0
    assert spent[6].json()["limit"] == 1000


@pytest.mark.parametrize("settings", [PARAM], indirect=True)
async def test_a_body_over_the_limit_is_refused_before_it_is_read(client: httpx.AsyncClient) -> None:
    numbers = [f"CNCA-{i:010d}" for i in range(400)]  # about 8 KB
    answer = await client.post("/public/certificates/verify", json={"numbers": numbers})
    assert answer.status_code == 413
    assert "4096" in answer.text


async def test_every_answer_carries_the_security_headers(client: httpx.AsyncClient) -> None:
    for answer in (await client.get("/public/certificates/CNCA-NOPE-1"), await client.get("/health"),
                   await client.post("/public/certificates/verify", json={"numbers": "not a list"})):
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert "default-src" in answer.headers["content-security-policy"]
        assert answer.headers["x-frame-options"] == "DENY" or "frame-ancestors 'none'" in answer.headers["content-security-policy"]
