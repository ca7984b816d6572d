import datetime as dt
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conformity_shared import envelope, events, topics
from conformity_shared.envelope import Envelope, InvalidHeader, causal_context, decode_headers, encode_headers

HOLDER = "91350100M000100Y43"


def spot_check() -> events.SpotCheckFailedV1:
    return events.SpotCheckFailedV1(
        inspection_id="insp-1", holder_uscc=HOLDER, certificate_numbers=["C1"], findings="lead above limit"
    )


def test_headers_carry_cloudevents_attributes_and_the_causal_chain() -> None:
    with causal_context("corr-1", "evt-0"):
        env = Envelope.for_event(spot_check(), "/conformity/supervision")
    headers = dict(env.headers())
    assert headers["ce_specversion"] == b"1.0"
    assert headers["ce_type"] == b"supervision.spot_check_failed.v1"
    assert headers["ce_subject"] == b"insp-1"
    assert headers["ce_correlationid"] == b"corr-1"
    assert headers["ce_causationid"] == b"evt-0"
    assert Envelope.from_headers(env.headers()) == env


def test_an_event_outside_any_request_starts_its_own_chain() -> None:
    env = Envelope.for_event(spot_check(), "/conformity/supervision")
    assert env.correlation_id == env.id
    assert env.causation_id is None


def test_every_event_type_is_in_the_catalogue_on_its_service_topic() -> None:
    for ce_type, model in events.CATALOGUE.items():
        service = {"approval": topics.APPROVAL, "certificate": topics.CERTIFICATES,
                   "supervision": topics.SUPERVISION, "proficiency": topics.PROFICIENCY,
                   "notification": topics.NOTIFICATIONS}[ce_type.split(".")[0]]
        assert model.topic == service
        version = ce_type.rsplit(".", 1)[1]  # v1, v2: the class's name ends with its version
        assert version[0] == "v" and version[1:].isdigit() and model.__name__.endswith(version.upper())


def test_event_json_round_trips() -> None:
    event = events.CertificateIssuedV1(
        certificate_number="C1", issuing_body_uscc=HOLDER, holder_uscc=HOLDER, holder_name="Acme",
        scheme="CCC", field="CCC-07", product="kettle", standard="GB 4706.1",
        valid_from=dt.date(2026, 1, 1), valid_until=dt.date(2031, 1, 1),
    )
    assert events.CertificateIssuedV1.model_validate_json(event.model_dump_json()) == event


def test_stored_headers_are_the_sent_pairs_built_once() -> None:
    with causal_context("corr-1", "evt-0"):
        env = Envelope.for_event(spot_check(), "/conformity/supervision")
    stored = env.header_bytes()
    assert isinstance(stored, bytes)
    assert decode_headers(stored) == env.headers()
    assert Envelope.from_headers(decode_headers(stored)) == env


@given(st.lists(st.tuples(st.text(min_size=1).filter(lambda s: "\0" not in s),
                          st.text().filter(lambda s: "\0" not in s)), max_size=12))
def test_any_header_list_without_nul_round_trips(pairs: list[tuple[str, str]]) -> None:
    assert decode_headers(encode_headers(pairs)) == [(k, v.encode()) for k, v in pairs]


def test_a_nul_in_a_header_is_refused_since_cloudevents_forbids_it() -> None:
    with pytest.raises(InvalidHeader, match="NUL"):
        encode_headers([("ce_subject", "a\0b")])
    with pytest.raises(InvalidHeader, match="pairs"):
        decode_headers(b"ce_id\0x\0ce_type")
    assert decode_headers(b"") == []


def test_event_ids_are_random_version_4_uuids_in_their_usual_text_form() -> None:
    ids = [envelope.new_event_id() for _ in range(20_000)]
    assert len(set(ids)) == len(ids)
    for event_id in ids[:2_000]:
        parsed = uuid.UUID(event_id)
        assert (parsed.version, parsed.variant, str(parsed)) == (4, uuid.RFC_4122, event_id)
    # Every variant digit turns up (8, 9, a, b): the two random bits under the variant's are kept.
    assert {event_id[19] for event_id in ids} == set("89ab")
