"""Digital certificates without a broker: signing at issuance, tampering detected, development
keys refused outside development, rotation (old credentials keep verifying), status lists that
follow the statuses in the same transaction, the public status page and the rendered PDF."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from conformity_shared import credentials, events
from conformity_shared.auth import Role
from conformity_shared.runtime import ServiceRuntime
from conformity_devstack import testing
from conformity_devstack.factories import agency, approval_change, approval_granted, certificate_request, new_uscc, spot_check_failed
from conformity_devstack.testing import token

from certificates import consumers, service, signing
from certificates.app import create_app
from certificates.commands import IssueCertificate, SuspendCertificate, WithdrawCertificate
from certificates.rendering import document
from certificates.settings import CertificatesSettings

REGULATOR = token(Role.REGULATOR)


async def deliver(runtime: ServiceRuntime, event: events.Event) -> None:
    handler = consumers.handlers(runtime)[type(event)]  # type: ignore[arg-type]
    async with runtime.unit_of_work() as uow:
        uow.cause_event_id = str(uuid.uuid4())
        await handler(uow, event)
        await uow.commit()


APPROVALS: dict[str, str] = {}


async def approved_body(runtime: ServiceRuntime) -> str:
    body = new_uscc()
    granted = approval_granted(body, ["MS-QMS"])
    APPROVALS[body] = granted.approval_id
    await deliver(runtime, granted)
    return body


async def issue(runtime: ServiceRuntime, body: str, holder: str | None = None) -> str:
    answer = await service.issue(runtime, agency(body), IssueCertificate(**certificate_request(holder or new_uscc())))
    return answer["number"]


async def jwks_of(client: httpx.AsyncClient) -> Any:
    answer = await client.get("/.well-known/jwks.json")
    assert answer.status_code == 200
    return credentials.key_set(answer.json(), allow_development_keys=True)


async def status_list_claims(client: httpx.AsyncClient, url: str) -> dict[str, Any]:
    answer = await client.get(url)
    assert answer.status_code == 200, answer.text
    _, claims = credentials.verify(answer.text, await jwks_of(client))
    return claims


def _tampered(token_: str, change: Any) -> str:
    header, payload, signature = token_.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    change(claims)
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"{header}.{forged}.{signature}"


# --- signing --------------------------------------------------------------------------------


async def test_an_issued_certificate_has_a_credential_signed_by_a_published_key(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    body = await approved_body(runtime)
    holder = new_uscc()
    number = await issue(runtime, body, holder)
    answer = await client.get(f"/public/certificates/{number}/credential")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/vc+jwt")
    header, claims = credentials.verify(answer.text, await jwks_of(client))
    assert header["alg"] == "EdDSA" and header["typ"] == "vc+jwt" and header["kid"] == "dev-certificates-1"
    assert claims["@context"] == ["https://www.w3.org/ns/credentials/v2"]
    assert claims["type"] == ["VerifiableCredential", "ConformityCertificateCredential"]
    subject = claims["credentialSubject"]
    assert subject["id"] == f"urn:uscc:{holder}"
    assert subject["certificate"]["number"] == number
    assert subject["certificate"]["standard"] == "GB/T 19001-2016"
    assert subject["certificationBody"]["id"] == f"urn:uscc:{body}"
    assert subject["certificationBody"]["approval"]["scope"] == ["MS-QMS"]
    assert claims["validFrom"].endswith("+08:00") and claims["validUntil"].endswith("+08:00")
    purposes = {entry["statusPurpose"]: entry for entry in claims["credentialStatus"]}
    assert set(purposes) == {"suspension", "revocation"}
    assert purposes["suspension"]["statusListIndex"] == "0"
    assert purposes["suspension"]["statusListCredential"].endswith(f"/public/status-lists/{body}/suspension")


@pytest.mark.parametrize("change", [
    lambda c: c["credentialSubject"].update(name="Someone Else Ltd"),
    lambda c: c.update(validUntil="2099-12-31T23:59:59+08:00"),
    lambda c: c["credentialSubject"]["certificate"].update(standard="GB 1-2000"),
    lambda c: c["credentialStatus"][0].update(statusListIndex="7"),
])
async def test_any_changed_claim_fails_verification(runtime: ServiceRuntime, client: httpx.AsyncClient, change: Any) -> None:
    number = await issue(runtime, await approved_body(runtime))
    signed = (await client.get(f"/public/certificates/{number}/credential")).text
    with pytest.raises(credentials.CredentialInvalid, match="signature"):
        credentials.verify(_tampered(signed, change), await jwks_of(client))


async def test_a_credential_signed_by_an_unpublished_key_is_refused(runtime: ServiceRuntime, client: httpx.AsyncClient) -> None:
    number = await issue(runtime, await approved_body(runtime))
    _, claims = credentials.verify((await client.get(f"/public/certificates/{number}/credential")).text, await jwks_of(client))
    from joserfc.jwk import OKPKey

    impostor = OKPKey.generate_key("Ed25519", parameters={"kid": "dev-certificates-1"})  # same kid, other key
    with pytest.raises(credentials.CredentialInvalid, match="signature"):
        credentials.verify(credentials.sign(claims, impostor), await jwks_of(client))
    stranger = OKPKey.generate_key("Ed25519", parameters={"kid": "someone-else"})
    with pytest.raises(credentials.CredentialInvalid, match="unknown key id"):
        credentials.verify(credentials.sign(claims, stranger), await jwks_of(client))


async def test_an_unknown_number_has_no_credential(client: httpx.AsyncClient) -> None:
    answer = await client.get("/public/certificates/MSC2026ZZZZ00000001/credential")
    assert answer.status_code == 404
    assert answer.json()["field"] == "number"


# --- keys: refusal outside development, rotation -----------------------------------------------


def test_the_development_key_is_refused_outside_development(tmp_path: Path) -> None:
    dev_key = (Path(signing.__file__).parent / signing.DEVELOPMENT_KEY_FILE).read_text()
    settings = testing.unit_settings(CertificatesSettings, tmp_path, env="production", credential_signing_key=dev_key)
    with pytest.raises(signing.SigningKeysRefused, match="development credential keys"):
        signing.KeyRing.from_settings(settings)


def test_a_retired_key_with_its_private_part_is_refused(tmp_path: Path) -> None:
    old = signing.new_key("certificates-2025-1")
    settings = testing.unit_settings(CertificatesSettings, tmp_path, credential_retired_keys=json.dumps({"keys": [old]}))
    with pytest.raises(signing.SigningKeysRefused, match="private part"):
        signing.KeyRing.from_settings(settings)


def test_without_a_key_outside_development_digital_certificates_are_unavailable_not_unsafe(tmp_path: Path) -> None:
    settings = testing.unit_settings(CertificatesSettings, tmp_path, env="production", oidc_jwks=None,
                                     oidc_issuer="https://issuer.example")
    ring = signing.KeyRing.from_settings(settings)
    assert ring.signing is None and ring.jwks() == {"keys": []}


async def test_after_a_rotation_certificates_signed_before_still_verify(tmp_path: Path) -> None:
    first, second = signing.new_key("certificates-2026-1"), signing.new_key("certificates-2026-2")
    before = testing.unit_settings(CertificatesSettings, tmp_path, credential_signing_key=json.dumps(first))
    async with testing.migrated_app(create_app, before) as app_before, testing.client_of(app_before) as client:
        runtime = app_before.state.runtime
        body = await approved_body(runtime)
        old_number = await issue(runtime, body)
        old_credential = (await client.get(f"/public/certificates/{old_number}/credential")).text
    retired = {"keys": [{k: v for k, v in first.items() if k != "d"}]}
    after = testing.unit_settings(CertificatesSettings, tmp_path, credential_signing_key=json.dumps(second),
                                  credential_retired_keys=json.dumps(retired))
    async with testing.migrated_app(create_app, after) as app_after, testing.client_of(app_after) as client:
        runtime = app_after.state.runtime
        new_number = await issue(runtime, body)
        published = (await client.get("/.well-known/jwks.json")).json()
        assert [k["kid"] for k in published["keys"]] == ["certificates-2026-2", "certificates-2026-1"]
        assert all("d" not in k for k in published["keys"])
        keys = await jwks_of(client)
        old_header, _ = credentials.verify(old_credential, keys)
        assert old_header["kid"] == "certificates-2026-1"
        # what the service answers for the old certificate is what it signed then: never re-signed
        assert (await client.get(f"/public/certificates/{old_number}/credential")).text == old_credential
        new_header, _ = credentials.verify((await client.get(f"/public/certificates/{new_number}/credential")).text, keys)
        assert new_header["kid"] == "certificates-2026-2"
        # the status list is signed with the current key and verifies too
        answer = await client.get(f"/public/status-lists/{body}/suspension")
        assert credentials.verify(answer.text, keys)[0]["kid"] == "certificates-2026-2"


# --- status lists ------------------------------------------------------------------------------


async def test_a_suspension_sets_and_a_withdrawal_moves_the_certificates_bits(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    body = await approved_body(runtime)
    holder = new_uscc()
    numbers = [await issue(runtime, body, holder) for _ in range(3)]
    suspension, revocation = f"/public/status-lists/{body}/suspension", f"/public/status-lists/{body}/revocation"
    fresh = await status_list_claims(client, suspension)
    assert fresh["type"] == ["VerifiableCredential", "BitstringStatusListCredential"]
    bits = credentials.decode_status_list(fresh["credentialSubject"]["encodedList"])
    assert len(bits) == credentials.MIN_STATUS_LIST_BITS // 8 and not any(bits)

    await service.suspend(runtime, agency(body), SuspendCertificate(number=numbers[1], reason="misuse"))
    bits = credentials.decode_status_list((await status_list_claims(client, suspension))["credentialSubject"]["encodedList"])
    assert [credentials.bit(bits, i) for i in range(3)] == [False, True, False]

    await service.withdraw(runtime, agency(body), WithdrawCertificate(number=numbers[1], reason="misuse not corrected"))
    suspended = credentials.decode_status_list((await status_list_claims(client, suspension))["credentialSubject"]["encodedList"])
    revoked = credentials.decode_status_list((await status_list_claims(client, revocation))["credentialSubject"]["encodedList"])
    assert [credentials.bit(suspended, i) for i in range(3)] == [False, False, False]
    assert [credentials.bit(revoked, i) for i in range(3)] == [False, True, False]


async def test_a_revoked_body_sets_every_suspension_bit_in_one_go(runtime: ServiceRuntime, client: httpx.AsyncClient) -> None:
    body = await approved_body(runtime)
    numbers = [await issue(runtime, body) for _ in range(5)]
    await deliver(runtime, approval_change(events.ApprovalRevokedV1, body, APPROVALS[body]))
    bits = credentials.decode_status_list(
        (await status_list_claims(client, f"/public/status-lists/{body}/suspension"))["credentialSubject"]["encodedList"])
    assert [credentials.bit(bits, i) for i in range(len(numbers))] == [True] * 5


async def test_a_failed_spot_check_sets_the_bit_in_the_transaction_of_the_suspension(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    body, holder = await approved_body(runtime), new_uscc()
    number = await issue(runtime, body, holder)
    await deliver(runtime, spot_check_failed(holder, [number]))
    bits = credentials.decode_status_list(
        (await status_list_claims(client, f"/public/status-lists/{body}/suspension"))["credentialSubject"]["encodedList"])
    assert credentials.bit(bits, 0)


async def test_a_status_list_is_cached_briefly_and_answers_304_while_unchanged(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    body = await approved_body(runtime)
    number = await issue(runtime, body)
    url = f"/public/status-lists/{body}/suspension"
    first = await client.get(url)
    assert first.headers["cache-control"] == "public, max-age=60"
    etag = first.headers["etag"]
    again = await client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.headers["etag"] == etag
    await service.suspend(runtime, agency(body), SuspendCertificate(number=number, reason="misuse"))
    changed = await client.get(url, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag


async def test_unknown_status_lists_are_not_found(runtime: ServiceRuntime, client: httpx.AsyncClient) -> None:
    assert (await client.get(f"/public/status-lists/{new_uscc()}/suspension")).status_code == 404
    body = await approved_body(runtime)
    await issue(runtime, body)
    assert (await client.get(f"/public/status-lists/{body}/message")).status_code == 404


# --- the status page -----------------------------------------------------------------------------


async def test_the_status_page_speaks_chinese_or_english_and_tells_statuses_apart(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    body = await approved_body(runtime)
    number = await issue(runtime, body)
    zh = await client.get(f"/public/certificates/{number}/page")
    assert zh.status_code == 200 and zh.headers["content-type"].startswith("text/html")
    assert "有效" in zh.text and 'name="viewport"' in zh.text
    assert "style-src 'sha256-" in zh.headers["content-security-policy"]
    en = await client.get(f"/public/certificates/{number}/page", headers={"Accept-Language": "en-GB,en;q=0.9,zh;q=0.5"})
    assert ">Valid<" in en.text and en.headers["content-language"] == "en"
    assert ">Valid<" in (await client.get(f"/public/certificates/{number}/page?lang=en")).text

    await service.suspend(runtime, agency(body), SuspendCertificate(number=number, reason="misuse"))
    suspended = (await client.get(f"/public/certificates/{number}/page?lang=en")).text
    assert ">Suspended<" in suspended and "misuse of the certificate" in suspended
    await service.withdraw(runtime, agency(body), WithdrawCertificate(number=number, reason="misuse not corrected"))
    withdrawn = (await client.get(f"/public/certificates/{number}/page?lang=zh")).text
    assert ">撤销<" in withdrawn and "misuse not corrected" in withdrawn

    missing = await client.get("/public/certificates/MSC2026ZZZZ00000001/page?lang=en")
    assert missing.status_code == 404 and "No certificate with this number" in missing.text


async def test_the_status_page_says_expired_once_the_validity_has_passed(
    runtime: ServiceRuntime, client: httpx.AsyncClient, today: dt.date
) -> None:
    body = await approved_body(runtime)
    answer = await service.issue(runtime, agency(body), IssueCertificate(**certificate_request(
        new_uscc(), valid_from=today - dt.timedelta(days=30), valid_until=today)))
    number = answer["number"]
    assert ">Valid<" in (await client.get(f"/public/certificates/{number}/page?lang=en")).text
    await client.post("/certificates/due-transitions", headers=REGULATOR)  # nothing due today yet
    from certificates import scheduler

    await scheduler.run_due_transitions(runtime, today + dt.timedelta(days=1))
    assert ">Expired<" in (await client.get(f"/public/certificates/{number}/page?lang=en")).text


async def test_existing_public_verification_answers_are_unchanged(runtime: ServiceRuntime, client: httpx.AsyncClient) -> None:
    body = await approved_body(runtime)
    number = await issue(runtime, body)
    answer = (await client.get(f"/public/certificates/{number}")).json()
    assert list(answer) == ["number", "status", "holder", "issuing_body_uscc", "scope", "validity", "suspension",
                            "last_change", "last_change_at"]


# --- the PDF ---------------------------------------------------------------------------------------


async def test_the_pdf_carries_the_credential_and_a_qr_code_that_opens_the_status_page(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    import pypdf
    import pypdfium2
    import zxingcpp

    number = await issue(runtime, await approved_body(runtime))
    answer = await client.get(f"/public/certificates/{number}/document.pdf")
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/pdf"
    credential = (await client.get(f"/public/certificates/{number}/credential")).text

    attachments = pypdf.PdfReader(io.BytesIO(answer.content)).attachments
    assert attachments[document.ATTACHMENT_NAME] == [credential.encode()]

    page = pypdfium2.PdfDocument(answer.content)[0]
    image = page.render(scale=2).to_pil()
    codes = zxingcpp.read_barcodes(image)
    assert [c.text for c in codes] == [f"http://127.0.0.1:8002/public/certificates/{number}/page"]
    text = page.get_textpage().get_text_range()
    assert number in text and "认 证 证 书" in text


# --- the bulk loader -------------------------------------------------------------------------------


async def test_the_bulk_loader_signs_every_certificate_and_sets_the_bits_of_its_statuses(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    from certificates import loader

    report = await loader.load(runtime.settings.resolved_database_url(), 400, seed=5, bodies=3, digital=runtime.context.digital)
    assert report.credentials == 400
    listed = (await client.get("/certificates", params={"limit": 1000}, headers=REGULATOR)).json()["items"]
    keys = await jwks_of(client)
    lists: dict[tuple[str, str], bytes] = {}
    for item in listed:
        _, claims = credentials.verify((await client.get(f"/public/certificates/{item['number']}/credential")).text, keys)
        for entry in claims["credentialStatus"]:
            key = (item["issuing_body_uscc"], entry["statusPurpose"])
            if key not in lists:
                lists[key] = credentials.decode_status_list(
                    (await status_list_claims(client, entry["statusListCredential"]))["credentialSubject"]["encodedList"])
            expected = {"suspension": item["status"] == "suspended",
                        "revocation": item["status"] in ("withdrawn", "cancelled")}[entry["statusPurpose"]]
            assert credentials.bit(lists[key], int(entry["statusListIndex"])) is expected, item
    # issuing afterwards continues the bodies' index sequences
    body, scope = listed[0]["issuing_body_uscc"], listed[0]["scope"]
    request = certificate_request(new_uscc(), field=scope["field"], scheme=scope["scheme"])
    number = (await service.issue(runtime, agency(body), IssueCertificate(**request)))["number"]
    _, claims = credentials.verify((await client.get(f"/public/certificates/{number}/credential")).text, keys)
    loaded_of_body = sum(1 for item in listed if item["issuing_body_uscc"] == body)
    assert claims["credentialStatus"][0]["statusListIndex"] == str(loaded_of_body)


async def test_a_certificate_loaded_without_a_credential_is_signed_on_first_request(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> None:
    from certificates import loader

    await loader.load(runtime.settings.resolved_database_url(), 50, seed=6, bodies=3)
    listed = (await client.get("/certificates", params={"status": "suspended", "limit": 5}, headers=REGULATOR)).json()["items"]
    listed = listed or (await client.get("/certificates", params={"limit": 1}, headers=REGULATOR)).json()["items"]
    item = listed[0]
    first = (await client.get(f"/public/certificates/{item['number']}/credential")).text
    assert (await client.get(f"/public/certificates/{item['number']}/credential")).text == first
    _, claims = credentials.verify(first, await jwks_of(client))
    entry = next(e for e in claims["credentialStatus"] if e["statusPurpose"] == "suspension")
    bits = credentials.decode_status_list(
        (await status_list_claims(client, entry["statusListCredential"]))["credentialSubject"]["encodedList"])
    assert credentials.bit(bits, int(entry["statusListIndex"])) is (item["status"] == "suspended")


async def test_issuing_more_certificates_keeps_a_status_lists_etag(runtime: ServiceRuntime, client: httpx.AsyncClient) -> None:
    body = await approved_body(runtime)
    await issue(runtime, body)
    etag = (await client.get(f"/public/status-lists/{body}/revocation")).headers["etag"]
    await issue(runtime, body)  # a new entry, every bit unchanged: caches keep their copy
    assert (await client.get(f"/public/status-lists/{body}/revocation", headers={"If-None-Match": etag})).status_code == 304


async def test_a_document_asked_for_again_is_not_rendered_again(
    runtime: ServiceRuntime, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    rendered: list[str] = []
    real = document.render
    monkeypatch.setattr(document, "render", lambda token, font=None: rendered.append(token) or real(token, font))
    number = await issue(runtime, await approved_body(runtime))
    first = await client.get(f"/public/certificates/{number}/document.pdf")
    again = await client.get(f"/public/certificates/{number}/document.pdf")
    assert first.content == again.content and len(rendered) == 1


def test_empty_key_settings_read_as_unset(tmp_path: Path) -> None:
    settings = testing.unit_settings(CertificatesSettings, tmp_path, credential_signing_key="", credential_signing_key_file="",
                                     credential_retired_keys="", public_base_url="")
    assert signing.KeyRing.from_settings(settings).kid == "dev-certificates-1"  # development: the development key
