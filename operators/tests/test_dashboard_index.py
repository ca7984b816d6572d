"""The dashboard's in-memory index: order, de-duplication, eviction, search, trace. No broker."""

from __future__ import annotations

from conformity_operators.dashboard.index import EventIndex
from conformity_operators.events_view import decode


def views(pairs, partition: int = 0):  # noqa: ANN001, ANN201
    return [
        decode(e.topic, partition, i, env.subject.encode(), e.model_dump_json().encode(), env.headers())
        for i, (env, e) in enumerate(pairs)
    ]


def test_a_record_read_again_after_a_rebalance_is_kept_once(new_chain) -> None:
    _, pairs = new_chain()
    index = EventIndex(100)
    assert all(index.add(v) for v in views(pairs))
    assert not any(index.add(v) for v in views(pairs))
    assert index.total == 3
    assert [seq for seq, _ in index.since(0)] == [1, 2, 3]
    assert [seq for seq, _ in index.since(2)] == [3]


def test_the_oldest_events_are_evicted_but_still_counted(new_chain) -> None:
    index = EventIndex(20)
    chains = []
    for partition in range(15):
        chain, pairs = new_chain()
        chains.append(chain)
        for v in views(pairs, partition):
            index.add(v)
    assert index.search(chains[0].number) == [] and index.trace(chains[0].correlation_id) is None
    assert len(index.search(chains[-1].number)) == 2 and index.trace(chains[-1].correlation_id).size == 3
    assert index.total == 45
    assert index.last_seq == 45
    kept = index.since(0, limit=1000)
    assert len(kept) <= 22 and kept[-1][0] == 45
    assert index.counts["certificate.suspended.v1"] == 15


def test_search_finds_a_certificates_history_oldest_first(new_chain) -> None:
    chain, pairs = new_chain()
    index = EventIndex(100)
    for v in views(pairs):
        index.add(v)
    found = index.search(chain.number.lower())
    assert [e["type"] for e in found] == ["supervision.spot_check_failed.v1", "certificate.suspended.v1"]
    assert len(index.search(chain.holder)) == 3


def test_the_trace_of_a_correlation_id(new_chain) -> None:
    chain, pairs = new_chain()
    index = EventIndex(100)
    for v in views(pairs):
        index.add(v)
    found = index.trace(chain.correlation_id)
    assert found is not None and found.size == 3
    by_event = index.trace(chain.suspension.id)
    assert by_event is not None and by_event.focus == chain.suspension.id and by_event.size == 3
    assert index.trace(chain.correlation_id[:8]).correlation_id == chain.correlation_id
    assert index.trace("no-such-request") is None
