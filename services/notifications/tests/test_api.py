"""The HTTP contract: who may subscribe, bad input named by field and rule, watchlists in bulk
with unknown numbers reported, object-level authorization, and the change feed by cursor."""

from __future__ import annotations

import datetime as dt
import uuid

import httpx

from conformity_devstack import testing
from conformity_devstack.factories import new_uscc
from conformity_shared import events
from conformity_shared.runtime import ServiceRuntime

from notifications import service
from notifications.settings import NotificationsSettings

HOOK = "https://hooks.shop.example.com/conformity"


async def test_platforms_and_agencies_subscribe_others_may_not(client: httpx.AsyncClient) -> None:
    for headers in (testing.token("platform", org=new_uscc()), testing.token("agency", org=new_uscc())):
        answer = await client.post("/endpoints", json={"url": HOOK}, headers=headers)
        assert answer.status_code == 201, answer.text
        assert answer.json()["secret"].startswith("whsec_")
    assert (await client.post("/endpoints", json={"url": HOOK}, headers=testing.token("regulator"))).status_code == 403
    no_org = await client.post("/endpoints", json={"url": HOOK}, headers=testing.token("platform"))
    assert no_org.status_code == 403 and no_org.json()["field"] == "org"


async def test_an_endpoint_inside_the_network_is_refused_naming_field_and_rule(client: httpx.AsyncClient,
                                                                              auth: dict) -> None:
    answer = await client.post("/endpoints", json={"url": "https://169.254.169.254/latest"}, headers=auth)
    assert answer.status_code == 422
    assert answer.json()["field"] == "url"
    assert answer.json()["failed_rules"][0]["rule"] == "link_local_address"


async def test_another_subscribers_endpoint_is_not_found(client: httpx.AsyncClient, auth: dict) -> None:
    endpoint = (await client.post("/endpoints", json={"url": HOOK}, headers=auth)).json()
    stranger = testing.token("platform", org=new_uscc())
    assert (await client.get(f"/endpoints/{endpoint['id']}", headers=stranger)).status_code == 404
    assert (await client.post(f"/endpoints/{endpoint['id']}/rotate-secret", headers=stranger)).status_code == 404
    assert (await client.get(f"/endpoints/{endpoint['id']}", headers=auth)).json()["secret"] == endpoint["secret"]


async def test_watchlists_are_added_and_removed_in_bulk_reporting_unknown_numbers(
        client: httpx.AsyncClient, auth: dict, runtime: ServiceRuntime[NotificationsSettings]) -> None:
    holder, body = new_uscc(), new_uscc()
    async with runtime.unit_of_work() as uow:  # a certificate the service has heard of
        await service.record_issued(uow, events.CertificateIssuedV1(
            certificate_number="CCC20260Y4300000001", issuing_body_uscc=body, holder_uscc=holder, holder_name="H",
            scheme="CCC", field="CCC-07", product="kettle", standard="GB 4706.19", valid_from=dt.date(2026, 1, 1),
            valid_until=dt.date(2030, 12, 31)))
        await uow.commit()
    numbers = ["CCC20260Y4300000001"] + [f"CCC20260Y43{n:08d}" for n in range(2, 20_001)]
    added = await client.post("/watchlist", json={"kind": "certificate", "values": numbers}, headers=auth)
    assert added.status_code == 200, added.text
    assert (added.json()["added"], added.json()["watched"], added.json()["unknown_count"]) == (20_000, 20_000, 19_999)
    assert "CCC20260Y4300000001" not in added.json()["unknown"]

    again = (await client.post("/watchlist", json={"kind": "certificate", "values": numbers[:10]}, headers=auth)).json()
    assert (again["added"], again["already_watched"]) == (0, 10)
    removed = (await client.post("/watchlist/remove", json={"kind": "certificate", "values": numbers[:5000]},
                                 headers=auth)).json()
    assert (removed["removed"], removed["watched"]) == (5000, 15_000)
    page = (await client.get("/watchlist", params={"kind": "certificate", "limit": 3}, headers=auth)).json()
    assert page["values"] == numbers[5000:5003] and page["next_after"] == numbers[5002]


async def test_an_oversized_watchlist_is_refused_whole(client: httpx.AsyncClient, auth: dict) -> None:
    numbers = [f"CCC20260Y43{n:08d}" for n in range(100_001)]
    answer = await client.post("/watchlist", json={"kind": "certificate", "values": numbers}, headers=auth)
    assert answer.status_code == 422
    assert (answer.json()["field"], answer.json()["failed_rules"][0]["rule"]) == ("values", "watchlist_too_large")
    listed = (await client.get("/watchlist", headers=auth)).json()
    assert listed["watched"] == 0


async def test_a_bad_watched_value_is_named(client: httpx.AsyncClient, auth: dict) -> None:
    answer = await client.post("/watchlist", json={"kind": "holder", "values": [new_uscc(), "not-a-uscc"]}, headers=auth)
    assert answer.status_code == 422
    assert (answer.json()["field"], answer.json()["failed_rules"][0]["rule"]) == ("values[1]", "invalid_uscc")


async def test_the_change_feed_pages_from_a_durable_cursor(client: httpx.AsyncClient, auth: dict, subscriber: str,
                                                           runtime: ServiceRuntime[NotificationsSettings]) -> None:
    holder = new_uscc()
    await client.post("/watchlist", json={"kind": "holder", "values": [holder]}, headers=auth)
    for n in range(5):
        async with runtime.unit_of_work() as uow:
            uow.cause_event_id = str(uuid.uuid4())
            await service.record_status_change(uow, events.CertificateSuspendedV1(
                certificate_number=f"CCC20260Y430000000{n}", issuing_body_uscc=new_uscc(), holder_uscc=holder,
                reason="misuse", suspended_until=dt.date(2027, 1, 1)))
            await uow.commit()
    first = (await client.get("/changes", params={"limit": 3}, headers=auth)).json()
    assert [c["data"]["certificate_number"][-1] for c in first["changes"]] == ["0", "1", "2"] and first["more"]
    rest = (await client.get("/changes", params={"cursor": first["next_cursor"]}, headers=auth)).json()
    assert [c["data"]["certificate_number"][-1] for c in rest["changes"]] == ["3", "4"] and not rest["more"]
    empty = (await client.get("/changes", params={"cursor": rest["next_cursor"]}, headers=auth)).json()
    assert empty["changes"] == [] and empty["next_cursor"] == rest["next_cursor"]
    stranger = (await client.get("/changes", headers=testing.token("platform", org=new_uscc()))).json()
    assert stranger["changes"] == []
    bad = await client.get("/changes", params={"cursor": "abc"}, headers=auth)
    assert bad.status_code == 422 and bad.json()["field"] == "cursor"


async def test_a_bad_cursor_refuses_the_live_stream_before_it_starts(client: httpx.AsyncClient, auth: dict) -> None:
    """Checked before the answer's headers go out: a 422 naming the cursor, not a broken stream."""
    for asked in ({"params": {"cursor": "abc"}}, {"params": {"cursor": ""}, "headers": {"last-event-id": "null"}}):
        answer = await client.get("/changes/stream", params=asked["params"], headers={**auth, **asked.get("headers", {})})
        assert answer.status_code == 422 and answer.json()["field"] == "cursor"


async def test_the_asyncapi_document_names_every_event_the_service_publishes(client: httpx.AsyncClient) -> None:
    text = (await client.get("/asyncapi.json")).text
    for ce_type in ("notification.delivered.v1", "notification.delivery_retrying.v1",
                    "notification.delivery_given_up.v1", "notification.endpoint_disabled.v2"):
        assert ce_type in text
    assert "notification.endpoint_disabled.v1" not in text  # no longer sent: it carried the URL
