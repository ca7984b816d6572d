"""Reading one record as an operator: envelope, payload, key facts, filters. No broker."""

from __future__ import annotations

import json

from conformity_operators.events_view import (
    EventFilter,
    OrganisationNames,
    as_json,
    decode,
    facts,
    format_delay,
    identifiers,
    mentions,
    summary,
    tone,
)


def record(envelope, event, offset: int = 0):  # noqa: ANN001, ANN201
    return decode(event.topic, 0, offset, envelope.subject.encode(), event.model_dump_json().encode(), envelope.headers())


def test_a_suspension_reads_as_certificate_holder_reason_and_deadline(new_chain) -> None:
    chain, pairs = new_chain()
    view = record(*pairs[2])
    assert view.type == "certificate.suspended.v1"
    assert view.service == "certificates"
    assert view.subject == chain.number
    assert view.correlation_id == chain.correlation_id
    assert view.causation_id == chain.spot_check.id
    assert dict(facts(view))["reason"] == "spot_check_failed"
    line = summary(view)
    assert f"certificate {chain.number}" in line and f"holder {chain.holder}" in line and "until 2030-06-01" in line
    assert tone(view) == "alarm"


def test_names_learned_from_earlier_events_label_organisations(new_chain) -> None:
    chain, pairs = new_chain()
    names = OrganisationNames({chain.holder: "Beijing Kettle Works"})
    assert f"holder {chain.holder} (Beijing Kettle Works)" in summary(record(*pairs[2]), names)


def test_a_credit_drop_is_an_alarm_and_a_rise_is_good(new_chain) -> None:
    _, pairs = new_chain()
    view = record(*pairs[1])
    assert dict(facts(view))["credit"] == "A → B"
    assert tone(view) == "alarm"


def test_a_record_without_cloudevents_headers_is_kept_with_its_problem() -> None:
    view = decode("supervision.events", 1, 7, b"k", b"not json", [("ce_type", b"x.y.v1")])
    assert view.problem is not None and "ce_id" in view.problem and "not JSON" in view.problem
    assert view.id == "supervision.events:1:7"
    assert summary(view).startswith("⚠")


def test_a_known_type_whose_body_does_not_validate_is_flagged(new_chain) -> None:
    _, pairs = new_chain()
    envelope, _ = pairs[2]
    view = decode("certificates.events", 0, 0, None, b'{"certificate_number": "X"}', envelope.headers())
    assert "CertificateSuspendedV1" in (view.problem or "")


def test_an_event_is_found_by_certificate_number_organisation_and_ids(new_chain) -> None:
    chain, pairs = new_chain()
    spot = record(*pairs[0])
    assert {chain.number, chain.holder, chain.inspection_id.upper()} <= identifiers(spot)
    assert mentions(spot, chain.number.lower())
    assert not mentions(spot, chain.body)


def test_filters_by_type_glob_subject_organisation_and_correlation(new_chain) -> None:
    chain, pairs = new_chain()
    views = [record(*p) for p in pairs]
    assert [v.type for v in views if EventFilter(types=("certificate.*",)).matches(v)] == ["certificate.suspended.v1"]
    assert len([v for v in views if EventFilter(org=chain.holder.lower()).matches(v)]) == 3
    assert len([v for v in views if EventFilter(org=chain.body).matches(v)]) == 1
    assert len([v for v in views if EventFilter(subject=chain.number).matches(v)]) == 1
    assert len([v for v in views if EventFilter(correlation_id=chain.correlation_id).matches(v)]) == 3
    assert not any(EventFilter(correlation_id="other").matches(v) for v in views)


def test_json_output_carries_every_header_and_the_payload(new_chain) -> None:
    chain, pairs = new_chain()
    body = as_json(record(*pairs[2]))
    json.dumps(body)
    assert body["headers"]["ce_causationid"] == chain.spot_check.id
    assert body["payload"]["certificate_number"] == chain.number
    assert body["topic"] == "certificates.events"


def test_delays_read_in_the_unit_a_person_would_use() -> None:
    import datetime as dt

    assert format_delay(dt.timedelta(milliseconds=142)) == "+142 ms"
    assert format_delay(dt.timedelta(seconds=3.24)) == "+3.2 s"
    assert format_delay(dt.timedelta(minutes=5, seconds=2)) == "+5 min 2 s"
