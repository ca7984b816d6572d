"""DESIGN flow 1 over the real broker: a failed product spot check suspends the certificate."""

from __future__ import annotations

import uuid

import httpx
from aiokafka import AIOKafkaProducer

from conformity_shared import credentials, topics
from conformity_shared.auth import Role
from conformity_devstack.factories import (
    application,
    as_inspector,
    certificate_request,
    inspector_body,
    new_uscc,
    rectification_verified,
    spot_check_result,
)
from conformity_devstack.testing import TopicReader, envelope_as_owner, eventually, publisher_settings, running, token

from approval.app import create_app as approval_app
from certificates.app import create_app as certificates_app
from conformity_operators import certificate_verification
from supervision.app import create_app as supervision_app

REGULATOR = token(Role.REGULATOR)


async def approved_body_issues_certificate(approval: httpx.AsyncClient, certs: httpx.AsyncClient, body: str, holder: str) -> str:
    agency = token(Role.AGENCY, org=body)
    granted = await approval.post("/applications", json=application(body), headers=agency)
    assert granted.status_code == 201, granted.text
    assert granted.json()["status"] == "granted"

    async def issue() -> str | None:
        answer = await certs.post("/certificates", headers=agency, json=certificate_request(holder))
        if answer.status_code == 201:
            return answer.json()["number"]
        # Until approval.granted has reached the certificates service, issuance is refused.
        assert answer.status_code == 422, answer.text
        return None

    return await eventually(issue, timeout=30)


async def record_failed_spot_check(sup: httpx.AsyncClient, holder: str, number: str, correlation_id: str) -> str:
    inspector, second = f"insp-{uuid.uuid4().hex[:8]}", f"insp-{uuid.uuid4().hex[:8]}"
    for inspector_id in (inspector, second):  # at least two, as a draw assigns
        registered = await sup.post("/inspectors", headers=REGULATOR, json=inspector_body(inspector_id))
        assert registered.status_code == 201, registered.text
    ordered = await sup.post(
        "/inspections", headers=REGULATOR,
        json={"target_uscc": holder, "target_kind": "enterprise", "kind": "product_spot_check",
              "inspector_ids": [inspector, second]},
    )
    assert ordered.status_code == 201, ordered.text
    inspection = ordered.json()["id"]
    recorded = await sup.post(
        f"/inspections/{inspection}/result", headers=as_inspector(inspector, correlation_id),
        json=spot_check_result([number]),
    )
    assert recorded.status_code == 200, recorded.text
    return inspection


async def test_failed_spot_check_suspends_the_named_certificate(service_env, kafka: str) -> None:
    body, holder = new_uscc(), new_uscc()
    correlation_id = str(uuid.uuid4())
    async with (
        running(approval_app()) as approval,
        running(certificates_app()) as certs,
        running(supervision_app()) as sup,
        TopicReader(kafka, topics.SUPERVISION, topics.CERTIFICATES) as reader,
    ):
        number = await approved_body_issues_certificate(approval, certs, body, holder)
        assert (await certs.get(f"/public/certificates/{number}")).json()["status"] == "valid"

        inspection = await record_failed_spot_check(sup, holder, number, correlation_id)

        async def suspended() -> dict | None:
            answer = (await certs.get(f"/public/certificates/{number}")).json()
            return answer if answer["status"] == "suspended" else None

        public = await eventually(suspended, timeout=30)
        assert public["suspension"]["reason"] == "spot_check_failed"

        seen = await reader.until(
            lambda s: any(e.type == "certificate.suspended.v1" and e.key == number for e in s)
        )
        spot_check = next(e for e in seen if e.type == "supervision.spot_check_failed.v1" and e.key == inspection)
        suspension = next(e for e in seen if e.type == "certificate.suspended.v1" and e.key == number)
        assert spot_check.headers["ce_correlationid"] == correlation_id
        assert suspension.headers["ce_correlationid"] == correlation_id
        assert suspension.headers["ce_causationid"] == spot_check.id
        assert suspension.headers["ce_source"] == "/conformity/certificates"
        assert spot_check.json()["certificate_numbers"] == [number]

        history = (await certs.get(f"/certificates/{number}", headers=REGULATOR)).json()["history"]
        assert [(h["from"], h["to"]) for h in history] == [(None, "valid"), ("valid", "suspended")]
        assert history[-1]["cause_event_id"] == spot_check.id


async def test_redelivered_spot_check_suspends_once_and_emits_one_event(service_env, kafka: str) -> None:
    body, holder = new_uscc(), new_uscc()
    async with (
        running(approval_app()) as approval,
        running(certificates_app()) as certs,
        running(supervision_app()) as sup,
        TopicReader(kafka, topics.SUPERVISION, topics.CERTIFICATES) as reader,
    ):
        number = await approved_body_issues_certificate(approval, certs, body, holder)
        inspection = await record_failed_spot_check(sup, holder, number, str(uuid.uuid4()))
        seen = await reader.until(lambda s: any(e.type == "certificate.suspended.v1" and e.key == number for e in s))
        spot_check = next(e for e in seen if e.type == "supervision.spot_check_failed.v1" and e.key == inspection)

        # The same event (same ce_id) delivered twice more, as after a producer retry or a replay;
        # then a harmless later event on the same partition (same key), which is handled only
        # after the copies before it.
        harmless = rectification_verified(holder, f"none-{uuid.uuid4()}", [number], inspection_id=inspection)
        sentinel = envelope_as_owner(harmless)
        producer = AIOKafkaProducer(bootstrap_servers=kafka, **publisher_settings(topics.SUPERVISION))
        await producer.start()
        try:
            for _ in range(2):
                await producer.send_and_wait(
                    topics.SUPERVISION, spot_check.value, key=spot_check.key.encode(),
                    headers=[(k, v.encode()) for k, v in spot_check.headers.items()],
                )
            await producer.send_and_wait(
                topics.SUPERVISION, harmless.model_dump_json().encode(), key=inspection.encode(), headers=sentinel.headers(),
            )
        finally:
            await producer.stop()

        runtime = certs._transport.app.state.runtime  # type: ignore[attr-defined]
        await eventually(lambda: _handled(runtime, sentinel.id), timeout=20)
        await reader.settle(1.0)
        suspensions = {e.id for e in reader.seen if e.type == "certificate.suspended.v1" and e.key == number}
        assert len(suspensions) == 1
        history = (await certs.get(f"/certificates/{number}", headers=REGULATOR)).json()["history"]
        assert [h["to"] for h in history].count("suspended") == 1


async def _handled(runtime, event_id: str) -> bool:  # noqa: ANN001
    import sqlalchemy as sa

    async with runtime.sessions() as session:
        found = await session.scalar(sa.select(runtime.inbox.c.event_id).where(runtime.inbox.c.event_id == event_id))
    return found is not None


# --- digital certificates: the status list follows the cascade ----------------------------------


async def suspension_bit(certs: httpx.AsyncClient, body: str, index: int) -> bool:
    """The bit at ``index`` of the body's suspension list, from the signed list the service serves."""
    answer = await certs.get(f"/public/status-lists/{body}/suspension")
    assert answer.status_code == 200, answer.text
    keys = credentials.key_set((await certs.get("/.well-known/jwks.json")).json(), allow_development_keys=True)
    _, claims = credentials.verify(answer.text, keys)
    return credentials.bit(credentials.decode_status_list(claims["credentialSubject"]["encodedList"]), index)


async def test_failed_spot_check_sets_the_status_list_bit_and_the_pdf_fails_its_live_check(service_env, kafka: str) -> None:
    body, holder = new_uscc(), new_uscc()
    keys_url = "http://service/.well-known/jwks.json"
    async with (
        running(approval_app()) as approval,
        running(certificates_app()) as certs,
        running(supervision_app()) as sup,
    ):
        await approved_body_issues_certificate(approval, certs, body, new_uscc())  # index 0, stays valid
        number = await approved_body_issues_certificate(approval, certs, body, holder)
        pdf = (await certs.get(f"/public/certificates/{number}/document.pdf")).content
        credential = credentials.unverified_claims((await certs.get(f"/public/certificates/{number}/credential")).text)
        index = int(credential["credentialStatus"][0]["statusListIndex"])
        assert index == 1 and not await suspension_bit(certs, body, index)
        before = await certificate_verification.verify_certificate(pdf, http=certs, keys_url=keys_url,
                                                                   allow_development_keys=True)
        assert before.as_dict()["verdict"] == "valid", before.as_dict()

        await record_failed_spot_check(sup, holder, number, str(uuid.uuid4()))

        async def suspended() -> bool:
            return (await certs.get(f"/public/certificates/{number}")).json()["status"] == "suspended"

        await eventually(suspended, timeout=30)
        # The status and the bit commit together: once the suspension is visible, so is the bit.
        assert await suspension_bit(certs, body, index)
        assert not await suspension_bit(certs, body, 0)
        after = await certificate_verification.verify_certificate(pdf, http=certs, keys_url=keys_url,
                                                                  allow_development_keys=True)
        assert {c.name: c.outcome for c in after.checks} == {
            "signature": "passed", "validity": "passed", "status (suspension)": "failed", "status (revocation)": "passed",
        }
