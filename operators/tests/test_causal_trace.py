"""The causal tree of a request, built from events alone. No broker."""

from __future__ import annotations

import datetime as dt
import uuid

from conformity_operators.events_view import decode
from conformity_operators.causal_trace import build_trace, find_correlation, trace


def views_of(pairs):  # noqa: ANN001, ANN201
    return [
        decode(e.topic, 0, i, env.subject.encode(), e.model_dump_json().encode(), env.headers())
        for i, (env, e) in enumerate(pairs)
    ]


def test_the_suspension_hangs_from_the_spot_check_and_the_credit_change_from_the_request(new_chain) -> None:
    chain, pairs = new_chain()
    found = build_trace(views_of(pairs), chain.correlation_id)
    assert [r.event.type for r in found.roots] == ["supervision.spot_check_failed.v1", "supervision.credit_class_changed.v1"]
    spot = found.roots[0]
    assert [c.event.type for c in spot.children] == ["certificate.suspended.v1"]
    assert spot.children[0].since_cause == chain.suspension.time - chain.spot_check.time
    assert spot.children[0].since_cause > dt.timedelta(0)
    assert found.size == 3
    assert found.duration == chain.suspension.time - chain.spot_check.time


def test_an_event_id_finds_its_whole_chain_and_is_marked(new_chain) -> None:
    chain, pairs = new_chain()
    found = trace(views_of(pairs), chain.suspension.id)
    assert found is not None
    assert found.correlation_id == chain.correlation_id
    assert found.focus == chain.suspension.id
    assert found.size == 3


def test_a_prefix_of_eight_characters_is_enough_when_unambiguous(new_chain) -> None:
    chain, pairs = new_chain()
    assert find_correlation(views_of(pairs), chain.correlation_id[:8]) == (chain.correlation_id, None)
    assert find_correlation(views_of(pairs), "nothing-like-it") is None


def test_an_event_delivered_twice_appears_once(new_chain) -> None:
    chain, pairs = new_chain()
    assert build_trace(views_of(pairs + pairs[2:]), chain.correlation_id).size == 3


def test_an_event_whose_cause_is_gone_is_a_root_marked_as_such(new_chain) -> None:
    chain, pairs = new_chain()
    found = build_trace(views_of(pairs[1:]), chain.correlation_id)  # the spot check is not on the topics
    orphan = next(r for r in found.roots if r.event.type == "certificate.suspended.v1")
    assert orphan.cause_missing


def test_a_dead_letter_annotates_the_event_it_kept(new_chain) -> None:
    chain, pairs = new_chain()
    env, event = pairs[2]
    dead = decode(
        "certificates.dlq", 0, 0, env.subject.encode(), event.model_dump_json().encode(),
        [*env.headers(), ("dlq_error", b"boom"), ("dlq_consumer", b"supervision")],
    )
    found = build_trace([*views_of(pairs), dead], chain.correlation_id)
    node = next(n for n in found.nodes() if n.event.type == "certificate.suspended.v1")
    assert [d.headers["dlq_error"] for d in node.dead_letters] == ["boom"]
    assert found.to_json()["roots"][0]["children"][0]["dead_letters"][0]["consumer"] == "supervision"


def test_the_json_tree_carries_timings_and_facts(new_chain) -> None:
    chain, pairs = new_chain()
    tree = build_trace(views_of(pairs), chain.correlation_id).to_json()
    child = tree["roots"][0]["children"][0]
    assert child["type"] == "certificate.suspended.v1"
    assert child["since_cause"].endswith("ms")
    assert "spot_check_failed" in child["summary"]
    assert tree["events"] == 3
    assert build_trace(views_of(pairs), str(uuid.uuid4())).size == 0
