"""Settings every service shares."""

from __future__ import annotations

from conformity_shared.settings import ServiceSettings


def test_a_cluster_s_bootstrap_servers_are_each_an_address() -> None:
    settings = ServiceSettings(kafka_bootstrap_servers="kafka-1:9092, kafka-2:9092,kafka-3:9092,")
    assert settings.kafka_servers() == ["kafka-1:9092", "kafka-2:9092", "kafka-3:9092"]


def test_one_bootstrap_server_is_a_list_of_one() -> None:
    assert ServiceSettings(kafka_bootstrap_servers="127.0.0.1:9092").kafka_servers() == ["127.0.0.1:9092"]
