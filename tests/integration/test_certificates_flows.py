"""The certificates service over HTTP with the real broker: issuance refused by scope and
by the body's standing, each automatic reaction (DESIGN flows 1, 2, 3, 5), idempotency
under redelivery, and public verification in bulk.

Topics are shared by every test of the session, so each test uses its own random USCCs,
inspection and approval ids, and looks only at events about its own certificates.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaProducer

from conformity_shared import events, topics
from conformity_shared.auth import Role
from conformity_shared.envelope import Envelope
from conformity_shared.runtime import ServiceRuntime
from conformity_devstack.factories import (
    application,
    approval_change,
    approval_granted,
    certificate_request,
    new_uscc,
    rectification_verified,
    spot_check_failed,
)
from conformity_devstack.testing import OwnerProducers, Seen, TopicReader, eventually, running, token

from approval.app import create_app as approval_app
from approval.domain import Catalogue, Kind
from certificates import db as certificates_db, domain, scheduler
from certificates.app import create_app as certificates_app

REGULATOR = token(Role.REGULATOR)
HOLDER_NAME = "Hangzhou Kettle Works"  # on every certificate request; public verification shows it


# --- helpers ----------------------------------------------------------------------------


@pytest.fixture
async def producer(kafka: str) -> AsyncIterator[OwnerProducers]:
    async with OwnerProducers(kafka) as producers:  # each stream written by its own service's principal
        yield producers


async def publish(producer: AIOKafkaProducer, event: events.Event, source: str) -> Envelope:
    """Publish one event as its producing service would (CloudEvents headers, keyed by subject)."""
    envelope = Envelope.for_event(event, source)
    await send(producer, event.topic, event.subject(), event.model_dump_json().encode(), envelope.headers())
    return envelope


async def send(producer: AIOKafkaProducer, topic: str, key: str, value: bytes, headers: list[tuple[str, bytes]]) -> None:
    await producer.send_and_wait(topic, value, key=key.encode(), headers=headers)


async def grant_by_event(producer: AIOKafkaProducer, body: str, fields: list[str]) -> str:
    granted = approval_granted(body, fields)
    await publish(producer, granted, "/conformity/approval")
    return granted.approval_id


async def issue_once_approved(certs: httpx.AsyncClient, body: str, holder: str, field: str = "MS-QMS") -> str:
    """Issue as soon as the approval has reached the certificates service's read model."""

    async def attempt() -> str | None:
        answer = await issue(certs, body, holder, field)
        if answer.status_code == 201:
            return answer.json()["number"]
        assert answer.status_code == 422 and answer.json()["failed_rules"][0]["rule"] == "not_approved", answer.text
        return None

    return await eventually(attempt, timeout=30)


async def issue(certs: httpx.AsyncClient, body: str, holder: str, field: str = "MS-QMS") -> httpx.Response:
    request = certificate_request(holder, field=field, holder_name=HOLDER_NAME)
    return await certs.post("/certificates", headers=token(Role.AGENCY, org=body), json=request)


async def status_of(certs: httpx.AsyncClient, number: str) -> dict:
    answer = await certs.get(f"/public/certificates/{number}")
    assert answer.status_code == 200, answer.text
    return answer.json()


async def until_status(certs: httpx.AsyncClient, number: str, status: str, timeout: float = 30) -> dict:
    async def check() -> dict | None:
        answer = await status_of(certs, number)
        return answer if answer["status"] == status else None

    return await eventually(check, timeout=timeout)


def of_type(seen: list[Seen], ce_type: str, keys: set[str]) -> list[Seen]:
    return [e for e in seen if e.type == ce_type and e.key in keys]


async def handled(runtime: ServiceRuntime, event_id: str) -> bool:
    async with runtime.sessions() as session:
        found = await session.scalar(sa.select(runtime.inbox.c.event_id).where(runtime.inbox.c.event_id == event_id))
    return found is not None


def runtime_of(client: httpx.AsyncClient) -> ServiceRuntime:
    return client._transport.app.state.runtime  # type: ignore[attr-defined]


# --- issuance refused -------------------------------------------------------------------


async def test_issuance_refused_outside_the_scope_and_its_schemes_approval_granted(service_env, kafka: str) -> None:
    body, holder = new_uscc(), new_uscc()
    agency = token(Role.AGENCY, org=body)
    async with running(approval_app()) as approval, running(certificates_app()) as certs:
        granted = await approval.post("/applications", json=application(body), headers=agency)
        assert granted.status_code == 201 and granted.json()["status"] == "granted", granted.text
        await issue_once_approved(certs, body, holder)  # the grant has reached the read model

        refused = await issue(certs, body, holder, field="CCC-08")
        assert refused.status_code == 422, refused.text
        answer = refused.json()
        assert answer["field"] == "field"
        assert answer["failed_rules"][0]["rule"] == "outside_scope"
        assert "CCC-08 is outside" in answer["detail"]

        # In the approved field, under a scheme it does not admit (the grant said which it admits).
        request = certificate_request(holder, field="MS-QMS", scheme="CCC", holder_name=HOLDER_NAME)
        wrong_scheme = await certs.post("/certificates", headers=agency, json=request)
        assert wrong_scheme.status_code == 422, wrong_scheme.text
        assert wrong_scheme.json()["field"] == "scheme"
        assert wrong_scheme.json()["failed_rules"][0]["rule"] == "scheme_not_admitted_by_field"
        async with runtime_of(certs).sessions() as session:
            standing = await certificates_db.load_body(session, body)
        assert standing.field_schemes == {"MS-QMS": {"management_system"}}


def test_the_default_catalogue_schemes_certificates_falls_back_to_are_approvals() -> None:
    """Certificates reads a grant that named no schemes with approval's default catalogue."""
    approvals = {f.code: {s.value for s in f.schemes} for f in Catalogue.default().for_kind(Kind.CERTIFICATION_BODY)}
    assert approvals == {code: set(schemes) for code, schemes in domain.DEFAULT_FIELD_SCHEMES.items()}


async def test_issuance_refused_while_the_body_is_suspended_and_when_never_approved(
    service_env, kafka: str, producer: AIOKafkaProducer
) -> None:
    body, holder = new_uscc(), new_uscc()
    async with running(certificates_app()) as certs:
        never = await issue(certs, new_uscc(), holder)
        assert never.status_code == 422 and never.json()["failed_rules"][0]["rule"] == "not_approved"

        approval_id = await grant_by_event(producer, body, ["MS-QMS"])
        await issue_once_approved(certs, body, holder)
        suspended = approval_change(events.ApprovalSuspendedV1, body, approval_id, reason="inspection failed")
        await publish(producer, suspended, "/conformity/approval")

        async def refused_as_suspended() -> dict | None:
            answer = await issue(certs, body, holder)
            if answer.status_code == 201:
                return None  # the suspension has not arrived yet
            assert answer.status_code == 422, answer.text
            return answer.json() if answer.json()["failed_rules"][0]["rule"] == "body_suspended" else None

        refusal = await eventually(refused_as_suspended, timeout=30)
        assert refusal["field"] == "issuing_body" and "suspended" in refusal["detail"]


# --- automatic reactions ----------------------------------------------------------------


async def test_failed_spot_check_suspends_the_named_certificates_and_rectification_reinstates_exactly_those(
    service_env, kafka: str, producer: AIOKafkaProducer
) -> None:
    body, holder = new_uscc(), new_uscc()
    async with running(certificates_app()) as certs, TopicReader(kafka, topics.CERTIFICATES) as reader:
        await grant_by_event(producer, body, ["MS-QMS"])
        first = await issue_once_approved(certs, body, holder)
        second, other_check, untouched = [(await issue(certs, body, holder)).json()["number"] for _ in range(3)]
        mine = {first, second, other_check, untouched}

        check_a, check_b = f"sc-{uuid.uuid4()}", f"sc-{uuid.uuid4()}"
        failed_a = await publish(
            producer, spot_check_failed(holder, [first, second], inspection_id=check_a, findings="overheats"),
            "/conformity/supervision",
        )
        await publish(
            producer, spot_check_failed(holder, [other_check], inspection_id=check_b, findings="label missing"),
            "/conformity/supervision",
        )
        for number in (first, second, other_check):
            answer = await until_status(certs, number, "suspended")
            assert answer["suspension"]["reason"] == "spot_check_failed"
            assert answer["suspension"]["until"] == domain.add_months(runtime_of(certs).clock.today(), 6).isoformat()
        assert (await status_of(certs, untouched))["status"] == "valid"
        seen = await reader.until(lambda s: len(of_type(s, "certificate.suspended.v1", mine)) == 3)
        caused_by_a = [e for e in of_type(seen, "certificate.suspended.v1", {first, second})]
        assert {e.headers["ce_causationid"] for e in caused_by_a} == {failed_a.id}

        # Rectification of check A names all three: only A's two are reinstated.
        verified = await publish(producer, rectification_verified(
            holder, check_a, [first, second, other_check], inspection_id=f"re-{uuid.uuid4()}",
        ), "/conformity/supervision")
        for number in (first, second):
            await until_status(certs, number, "valid")
        await eventually(lambda: handled(runtime_of(certs), verified.id), timeout=20)
        assert (await status_of(certs, other_check))["status"] == "suspended"
        seen = await reader.until(lambda s: len(of_type(s, "certificate.reinstated.v1", mine)) == 2)
        await reader.settle(1.0)
        reinstated = of_type(reader.seen, "certificate.reinstated.v1", mine)
        assert sorted(e.key for e in reinstated) == sorted([first, second])
        assert all(e.headers["ce_causationid"] == verified.id for e in reinstated)
        history = (await certs.get(f"/certificates/{first}", headers=REGULATOR)).json()["history"]
        assert [(h["from"], h["to"]) for h in history] == [(None, "valid"), ("valid", "suspended"), ("suspended", "valid")]


async def test_revoked_approval_suspends_every_valid_certificate_with_one_event_each(service_env, kafka: str) -> None:
    body = new_uscc()
    agency = token(Role.AGENCY, org=body)
    async with (
        running(approval_app()) as approval,
        running(certificates_app()) as certs,
        TopicReader(kafka, topics.APPROVAL, topics.CERTIFICATES) as reader,
    ):
        granted = await approval.post("/applications", json=application(body), headers=agency)
        assert granted.status_code == 201, granted.text
        approval_id = granted.json()["approval_id"]
        numbers = [await issue_once_approved(certs, body, new_uscc())]
        numbers += [(await issue(certs, body, new_uscc())).json()["number"] for _ in range(5)]
        withdrawn = numbers.pop()
        assert (await certs.post(f"/certificates/{withdrawn}/withdraw", headers=agency, json={"reason": "audit failed"})).status_code == 200

        revoked = await approval.post(f"/approvals/{approval_id}/revoke", headers=REGULATOR, json={"reason": "commitment breached"})
        assert revoked.status_code == 200, revoked.text
        for number in numbers:
            answer = await until_status(certs, number, "suspended")
            assert answer["suspension"]["reason"] == "issuing_body_revoked"
        seen = await reader.until(lambda s: len(of_type(s, "certificate.suspended.v1", set(numbers))) == len(numbers))
        revocation = next(e for e in seen if e.type == "approval.revoked.v1" and e.key == approval_id)
        await reader.settle(1.0)
        suspensions = of_type(reader.seen, "certificate.suspended.v1", set(numbers) | {withdrawn})
        assert sorted(e.key for e in suspensions) == sorted(numbers)
        assert all(e.headers["ce_causationid"] == revocation.id for e in suspensions)
        assert all(e.json()["reason"] == "issuing_body_revoked" for e in suspensions)
        assert (await status_of(certs, withdrawn))["status"] == "withdrawn"

        refused = await issue(certs, body, new_uscc())
        assert refused.status_code == 422 and refused.json()["failed_rules"][0]["rule"] == "body_revoked"
        # Nor may the revoked body lift the suspension itself.
        lifted = await certs.post(f"/certificates/{numbers[0]}/reinstate", headers=agency, json={"reason": "please"})
        assert lifted.status_code == 403 and lifted.json()["failed_rules"][0]["rule"] == "imposed_suspension"


async def test_passed_suspension_deadline_withdraws_and_publishes(service_env, kafka: str, producer: AIOKafkaProducer) -> None:
    body, holder = new_uscc(), new_uscc()
    async with running(certificates_app()) as certs, TopicReader(kafka, topics.CERTIFICATES) as reader:
        await grant_by_event(producer, body, ["MS-QMS"])
        number = await issue_once_approved(certs, body, holder)
        suspended = await certs.post(f"/certificates/{number}/suspend", headers=token(Role.AGENCY, org=body),
                                     json={"reason": "surveillance_overdue"})
        assert suspended.status_code == 200, suspended.text
        deadline = dt.date.fromisoformat(suspended.json()["suspension"]["until"])

        runtime = runtime_of(certs)
        day_after = deadline + dt.timedelta(days=1)
        first = await scheduler.run_due_transitions(runtime, today=day_after)
        second = await scheduler.run_due_transitions(runtime, today=day_after)
        assert first["withdrawn"] >= 1 and second["withdrawn"] == 0
        answer = await status_of(certs, number)
        assert answer["status"] == "withdrawn"
        assert answer["last_change"]["reason"] == f"suspension deadline {deadline} passed without reinstatement"
        await reader.until(lambda s: len(of_type(s, "certificate.withdrawn.v1", {number})) == 1)
        await reader.settle(1.0)
        assert len(of_type(reader.seen, "certificate.withdrawn.v1", {number})) == 1


# --- idempotency under redelivery -------------------------------------------------------


async def test_redelivered_revocation_suspends_each_certificate_once(
    service_env, kafka: str, producer: AIOKafkaProducer
) -> None:
    body = new_uscc()
    async with running(certificates_app()) as certs, TopicReader(kafka, topics.CERTIFICATES) as reader:
        approval_id = await grant_by_event(producer, body, ["MS-QMS"])
        numbers = [await issue_once_approved(certs, body, new_uscc())]
        numbers += [(await issue(certs, body, new_uscc())).json()["number"] for _ in range(3)]

        revocation = approval_change(events.ApprovalRevokedV1, body, approval_id, reason="commitment breached")
        envelope = Envelope.for_event(revocation, "/conformity/approval")
        for _ in range(3):  # the same event (same ce_id) three times, as after a producer retry or a replay
            await send(producer, topics.APPROVAL, approval_id, revocation.model_dump_json().encode(), envelope.headers())
        # A later event on the same partition is handled only after the copies before it.
        sentinel = await publish(
            producer, approval_change(events.ApprovalReinstatedV1, body, approval_id, reason="sentinel"),
            "/conformity/approval",
        )
        await eventually(lambda: handled(runtime_of(certs), sentinel.id), timeout=30)

        await reader.until(lambda s: len(of_type(s, "certificate.suspended.v1", set(numbers))) >= len(numbers))
        await reader.settle(1.5)
        suspensions = of_type(reader.seen, "certificate.suspended.v1", set(numbers))
        assert sorted(e.key for e in suspensions) == sorted(numbers)
        for number in numbers:
            history = (await certs.get(f"/certificates/{number}", headers=REGULATOR)).json()["history"]
            assert [h["to"] for h in history] == ["valid", "suspended"]
            assert history[-1]["cause_event_id"] == envelope.id


# --- HTTP lifecycle and authorization ----------------------------------------------------


async def test_transitions_over_http_answer_409_for_illegal_moves_and_403_for_other_bodies(
    service_env, kafka: str, producer: AIOKafkaProducer
) -> None:
    body, other = new_uscc(), new_uscc()
    async with running(certificates_app()) as certs:
        await grant_by_event(producer, body, ["MS-QMS"])
        number = await issue_once_approved(certs, body, new_uscc())

        foreign = await certs.post(f"/certificates/{number}/suspend", headers=token(Role.AGENCY, org=other),
                                   json={"reason": "misuse"})
        assert foreign.status_code == 403 and foreign.json()["failed_rules"][0]["rule"] == "not_issuing_body"
        imposed = await certs.post(f"/certificates/{number}/suspend", headers=REGULATOR,
                                   json={"reason": "spot_check_failed"})
        assert imposed.status_code == 422
        no_token = await certs.post(f"/certificates/{number}/withdraw", json={"reason": "x"})
        assert no_token.status_code == 401

        withdrawn = await certs.post(f"/certificates/{number}/withdraw", headers=REGULATOR, json={"reason": "fraud"})
        assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "withdrawn"
        again = await certs.post(f"/certificates/{number}/reinstate", headers=REGULATOR, json={"reason": "mistake"})
        assert again.status_code == 409
        assert again.json() == {"detail": f"cannot reinstate certificate {number}: a withdrawn certificate is final",
                                "field": "status"}


# --- public verification ----------------------------------------------------------------


async def test_public_verification_single_and_in_bulk_with_unknown_numbers(
    service_env, kafka: str, producer: AIOKafkaProducer
) -> None:
    body, holder = new_uscc(), new_uscc()
    async with running(certificates_app()) as certs:
        await grant_by_event(producer, body, ["MS-QMS"])
        known = [await issue_once_approved(certs, body, holder)]
        known += [(await issue(certs, body, holder)).json()["number"] for _ in range(2)]
        prefix = domain.number_prefix("management_system", runtime_of(certs).clock.today().year, body)
        unknown = [domain.certificate_number(prefix, 90_000_000 + i) for i in range(2)]

        single = await certs.get(f"/public/certificates/{known[0]}")  # no token
        assert single.status_code == 200
        assert single.json()["holder"] == {"uscc": holder, "name": "Hangzhou Kettle Works"}
        assert single.json()["validity"]["from"] == runtime_of(certs).clock.today().isoformat()
        missing = await certs.get(f"/public/certificates/{unknown[0]}")
        assert missing.status_code == 404 and missing.json()["field"] == "number"

        # The public read path (its own connection, no session) answers what the session's view does.
        whole = (await certs.get(f"/certificates/{known[0]}", headers=REGULATOR)).json()
        assert single.json() == {k: v for k, v in whole.items() if k != "history"}

        asked = [known[0], unknown[0], known[1], unknown[1], known[2]]
        batch = await certs.post("/public/certificates/verify", json={"numbers": asked})
        assert batch.status_code == 200, batch.text
        answer = batch.json()
        assert (answer["count"], answer["unknown"]) == (5, 2)
        assert [(r["number"], r["status"]) for r in answer["results"]] == [
            (known[0], "valid"), (unknown[0], "unknown"), (known[1], "valid"), (unknown[1], "unknown"), (known[2], "valid"),
        ]
        assert answer["results"][0]["scope"]["standard"] == "GB/T 19001-2016"
        assert answer["results"][0] == single.json()

        full = await certs.post("/public/certificates/verify", json={"numbers": unknown * 500})
        assert full.status_code == 200 and full.json()["count"] == 2
        too_many = await certs.post("/public/certificates/verify", json={"numbers": [known[0]] * 1001})
        assert too_many.status_code == 422
        assert too_many.json()["field"] == "numbers" and "at most 1000" in too_many.json()["detail"]
        empty = await certs.post("/public/certificates/verify", json={"numbers": []})
        assert empty.status_code == 422
