"""Outside development a process refuses Kafka settings that would let anyone in or that are
development's: no authentication, a development password, the local broker's credentials file."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformity_shared.kafka_access import KafkaAccessRefused
from conformity_shared.settings import ServiceSettings

SECURED = {"kafka_security_protocol": "SASL_SSL", "kafka_password": "a-real-secret-of-the-deployment"}


def settings(**values: object) -> ServiceSettings:
    return ServiceSettings(service_name="certificates", env="production", **values)


def test_a_secured_principal_with_a_secret_of_its_own_may_start() -> None:
    settings(**SECURED).refuse_unsafe_kafka()


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({}, "CONFORMITY_KAFKA_SECURITY_PROTOCOL=PLAINTEXT"),
        ({"kafka_security_protocol": "SASL_SSL"}, "CONFORMITY_KAFKA_PASSWORD is not set"),
        ({**SECURED, "kafka_password": "dev-kafka-certificates"}, "development password"),
        ({**SECURED, "kafka_credentials_file": Path("var/kafka/credentials.json")}, "CONFORMITY_KAFKA_CREDENTIALS_FILE"),
    ],
)
def test_unsafe_kafka_settings_are_refused_outside_development_naming_the_setting(values: dict, named: str) -> None:
    with pytest.raises(KafkaAccessRefused, match=named) as refused:
        settings(**values).refuse_unsafe_kafka()
    assert "CONFORMITY_ENV=production" in str(refused.value)


def test_development_accepts_the_local_brokers_settings() -> None:
    ServiceSettings(service_name="certificates", env="development").refuse_unsafe_kafka()
