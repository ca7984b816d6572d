"""Provisioning the broker for the platform: its topics, its principals and what each may do.

Run once per installation and after every release that adds a topic or a consumer
(`conformity kafka provision`; `make run`, the test fixtures, compose's `provision` service and
the Helm chart's pre-install Job run it), as the broker's admin. Everything it does is
idempotent: existing topics, users and access rules are left as they are.

The access rules come from the contract (`conformity_shared.topics`), one principal per service:
- a service writes only its own stream and its own dead-letter topic, reads only the streams it
  consumes and its own replay topic, in its own consumer group (its name);
- `operators` (the dashboard, the CLI, test observers) reads every stream and dead-letter topic;
- `dlq-replay` reads the dead-letter topics and writes only the replay topics, where each
  service accepts back nothing but what it dead-lettered itself, byte for byte.
Everything else is denied: the broker allows nothing no rule names.
Written with confluent-kafka's admin client (librdkafka), which, unlike aiokafka, manages ACLs and
SCRAM credentials.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from conformity_shared import topics
from conformity_shared.kafka_access import KafkaAccess

OPERATORS = "operators"
DLQ_REPLAY = "dlq-replay"
# Consumer groups the operators' tools may use (the dashboard's, for instance).
OPERATOR_GROUPS = "conformity-operators"
SERVICE_PRINCIPALS = tuple(sorted(topics.CONSUMES))
PRINCIPALS = (*SERVICE_PRINCIPALS, OPERATORS, DLQ_REPLAY)

READ, WRITE, DESCRIBE = AclOperation.READ, AclOperation.WRITE, AclOperation.DESCRIBE


@dataclass(frozen=True)
class TopicLayout:
    partitions: int = 3
    replication_factor: int = 1
    min_insync_replicas: int = 1


def _allow(principal: str, resource: ResourceType, name: str, operation: AclOperation,
           pattern: ResourcePatternType = ResourcePatternType.LITERAL) -> AclBinding:
    return AclBinding(resource, name, pattern, f"User:{principal}", "*", operation, AclPermissionType.ALLOW)


def _on_topics(principal: str, names: Iterable[str], *operations: AclOperation) -> list[AclBinding]:
    return [_allow(principal, ResourceType.TOPIC, name, op) for name in names for op in (*operations, DESCRIBE)]


def _idempotent_producer(principal: str) -> AclBinding:
    # An idempotent producer (no duplicates from its own retries) asks the cluster for a
    # producer id first; this allows that and nothing else.
    return _allow(principal, ResourceType.BROKER, "kafka-cluster", AclOperation.IDEMPOTENT_WRITE)


def service_rules(service: str) -> list[AclBinding]:
    """What one service's principal may do: write its stream and dead letters, read what it consumes."""
    own = [stream for stream, owner in topics.OWNERS.items() if owner == service]
    rules = [_idempotent_producer(service), *_on_topics(service, [*own, topics.dead_letters(service)], WRITE)]
    consumed = topics.CONSUMES.get(service, ())
    if consumed:
        rules += _on_topics(service, [*consumed, topics.replays(service)], READ)
        rules.append(_allow(service, ResourceType.GROUP, service, READ))
    return rules


def operator_rules() -> list[AclBinding]:
    """The operators' tools read every stream and dead-letter topic, and write nothing."""
    dead = [topics.dead_letters(s) for s in SERVICE_PRINCIPALS]
    return [*_on_topics(OPERATORS, [*topics.ALL, *dead], READ),
            _allow(OPERATORS, ResourceType.GROUP, OPERATOR_GROUPS, READ, ResourcePatternType.PREFIXED)]


def replay_rules() -> list[AclBinding]:
    """Replaying dead letters: read them, write only to the services' replay topics."""
    consuming = [s for s in SERVICE_PRINCIPALS if topics.CONSUMES[s]]
    return [_idempotent_producer(DLQ_REPLAY),
            *_on_topics(DLQ_REPLAY, [topics.dead_letters(s) for s in consuming], READ),
            *_on_topics(DLQ_REPLAY, [topics.replays(s) for s in consuming], WRITE),
            _allow(DLQ_REPLAY, ResourceType.GROUP, OPERATOR_GROUPS, READ, ResourcePatternType.PREFIXED)]


def access_rules() -> list[AclBinding]:
    return [rule for service in SERVICE_PRINCIPALS for rule in service_rules(service)] + operator_rules() + replay_rules()


def admin_client(bootstrap: str, access: KafkaAccess) -> AdminClient:
    """confluent-kafka's admin client as `access`'s principal (librdkafka's setting names)."""
    return AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 10000, **access.librdkafka_settings()})


def _wait(futures: Mapping[Any, Any], tolerated: tuple[str, ...] = ()) -> None:
    for future in futures.values():
        try:
            future.result(timeout=60)
        except KafkaException as exc:
            if not any(code in str(exc) for code in tolerated):
                raise


def create_topics(admin: AdminClient, layout: TopicLayout) -> None:
    """Every topic of the platform, with its partitions, replicas and min.insync.replicas."""
    config = {"min.insync.replicas": str(layout.min_insync_replicas)}
    wanted = [NewTopic(name, layout.partitions, layout.replication_factor, config=config)
              for name in topics.every_topic()]
    _wait(admin.create_topics(wanted), tolerated=("TOPIC_ALREADY_EXISTS",))


def upsert_users(admin: AdminClient, passwords: Mapping[str, str]) -> None:
    """SCRAM-SHA-512 credentials for each principal (for brokers that did not get them at format time)."""
    info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192)
    upserts = [UserScramCredentialUpsertion(user, info, password.encode()) for user, password in passwords.items()]
    _wait(admin.alter_user_scram_credentials(upserts))


def grant(admin: AdminClient, rules: list[AclBinding], timeout: float = 30.0) -> None:
    """Create the access rules and wait until the brokers apply them (the controller acknowledges
    a rule before the brokers' authorizers have it from the metadata log)."""
    _wait(admin.create_acls(rules))
    everything = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None,
                                  AclOperation.ANY, AclPermissionType.ANY)
    deadline = time.monotonic() + timeout
    while len(set(admin.describe_acls(everything).result(timeout=30)) & set(rules)) < len(set(rules)):
        if time.monotonic() > deadline:
            raise RuntimeError("the brokers did not apply the platform's access rules in time")
        time.sleep(0.2)


def provision(bootstrap: str, admin_access: KafkaAccess, layout: TopicLayout,
              passwords: Mapping[str, str] | None = None) -> None:
    """Topics, then users (when given), then the access rules: all idempotent."""
    admin = admin_client(bootstrap, admin_access)
    create_topics(admin, layout)
    if passwords:
        upsert_users(admin, passwords)
    if admin_access.authenticated:
        grant(admin, access_rules())


class ProvisioningSettings(BaseSettings):
    """`conformity kafka provision`'s settings (`CONFORMITY_*`): the broker, its admin, the layout,
    and the principals' passwords (`CONFORMITY_KAFKA_PASSWORD_<PRINCIPAL>`, e.g.
    `CONFORMITY_KAFKA_PASSWORD_DLQ_REPLAY`) for brokers whose users are made here rather than
    when their storage was formatted."""

    model_config = SettingsConfigDict(env_prefix="CONFORMITY_", extra="ignore")

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_security_protocol: str = Field(default="SASL_PLAINTEXT", pattern="^(PLAINTEXT|SASL_PLAINTEXT|SASL_SSL)$")
    kafka_admin_username: str = "admin"
    kafka_admin_password: SecretStr | None = None
    # The admin may sign in with PLAIN (a broker's own static user) or SCRAM.
    kafka_admin_mechanism: str = Field(default="PLAIN", pattern="^(PLAIN|SCRAM-SHA-256|SCRAM-SHA-512)$")
    kafka_ssl_cafile: Path | None = None
    kafka_topic_partitions: int = Field(default=3, ge=1)
    kafka_replication_factor: int = Field(default=1, ge=1)
    kafka_min_insync_replicas: int = Field(default=1, ge=1)

    def admin_access(self) -> KafkaAccess:
        password = self.kafka_admin_password.get_secret_value() if self.kafka_admin_password else None
        return KafkaAccess(self.kafka_security_protocol, self.kafka_admin_username, password,
                           self.kafka_admin_mechanism, self.kafka_ssl_cafile)

    def layout(self) -> TopicLayout:
        return TopicLayout(self.kafka_topic_partitions, self.kafka_replication_factor, self.kafka_min_insync_replicas)

    def passwords(self, environ: Mapping[str, str]) -> dict[str, str]:
        """The principals' passwords given in the environment, by principal."""
        found = {p: environ.get(f"CONFORMITY_KAFKA_PASSWORD_{p.upper().replace('-', '_')}") for p in PRINCIPALS}
        return {principal: password for principal, password in found.items() if password}
