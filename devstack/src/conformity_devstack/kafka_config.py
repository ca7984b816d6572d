"""The configuration of a local Kafka node: one KRaft broker+controller of a cluster of one or more.

Security (`secure=True`): clients and brokers authenticate with SASL/SCRAM-SHA-512 on the
`CLIENT` and `INTERNAL` listeners; controllers with SASL/PLAIN on the `CONTROLLER` listener
(KRaft keeps SCRAM credentials in its own metadata, so the quorum cannot use them); the
StandardAuthorizer refuses whatever no ACL allows. The SCRAM users are written into the
metadata when the storage is formatted (KIP-900), so the cluster starts with them.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

SCRAM = "SCRAM-SHA-512"
ADMIN = "admin"  # the super user: provisioning (topics, ACLs, users) and the brokers themselves
CONTROLLER = "controller"  # the quorum's own principal on the controller listener

# What every local node has, whatever the cluster's size.
COMMON_SETTINGS = {
    "process.roles": "broker,controller",
    "controller.listener.names": "CONTROLLER",
    "inter.broker.listener.name": "INTERNAL",
    "offsets.topic.num.partitions": "10",
    "group.initial.rebalance.delay.ms": "0",  # consumers join at once instead of after 3 s
    # Offset commits are written at once instead of lingering 5 ms for company (Kafka 4's
    # default): a consumer that commits after each record's transaction waits for every one.
    "group.coordinator.append.linger.ms": "0",
    "num.partitions": "3",
    "auto.create.topics.enable": "true",
    "log.flush.interval.messages": "9223372036854775807",
    "log.retention.hours": "168",
}


def replication_settings(nodes: int) -> dict[str, str]:
    """One node keeps one copy; a cluster keeps three (or all it has) and needs two in sync."""
    factor = min(nodes, 3)
    in_sync = max(1, min(2, factor - 1)) if factor > 1 else 1
    return {
        "default.replication.factor": str(factor),
        "min.insync.replicas": str(in_sync),
        "offsets.topic.replication.factor": str(factor),
        "transaction.state.log.replication.factor": str(factor),
        "transaction.state.log.min.isr": str(in_sync),
        "share.coordinator.state.topic.replication.factor": str(factor),
        "share.coordinator.state.topic.min.isr": str(in_sync),
    }


@dataclass(frozen=True)
class Credentials:
    """The SCRAM users of a local cluster and their passwords, and the controllers' password.

    Made here, at random, the first time a cluster folder is formatted, and kept in that folder
    (`credentials.json`, readable by its owner only): never in the repository.
    """

    passwords: dict[str, str]
    controller_password: str

    @classmethod
    def load_or_create(cls, path: Path, users: Iterable[str]) -> Credentials:
        wanted = [ADMIN, *users]
        if path.exists():
            data = json.loads(path.read_text())
            known = cls(dict(data["passwords"]), data["controller_password"])
            if all(user in known.passwords for user in wanted):
                return known
        made = cls({user: secrets.token_urlsafe(24) for user in wanted}, secrets.token_urlsafe(24))
        made.save(path)
        return made

    def save(self, path: Path) -> None:
        """Write the credentials file (what `CONFORMITY_KAFKA_CREDENTIALS_FILE` names), its owner's only."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        os.chmod(path, 0o600)
        path.write_text(json.dumps({"passwords": self.passwords, "controller_password": self.controller_password}))

    def of(self, user: str) -> str:
        return self.passwords[user]

    def scram_arguments(self) -> list[str]:
        """`kafka-storage format` arguments that create every user (KIP-900)."""
        arguments: list[str] = []
        for user, password in self.passwords.items():
            arguments += ["--add-scram", f"{SCRAM}=[name={user},password={password}]"]
        return arguments


@dataclass(frozen=True)
class NodePorts:
    node_id: int
    client: int
    internal: int
    controller: int


def _jaas(module: str, **options: str) -> str:
    pairs = " ".join(f'{key}="{value}"' for key, value in options.items())
    return f"org.apache.kafka.common.security.{module} required {pairs};".replace(" ;", ";")


def security_settings(credentials: Credentials) -> dict[str, str]:
    """SASL on every listener, an authorizer that denies by default, the brokers as super users."""
    controller_jaas = _jaas(
        "plain.PlainLoginModule", username=CONTROLLER, password=credentials.controller_password,
        **{f"user_{CONTROLLER}": credentials.controller_password},
    )
    return {
        "listener.security.protocol.map": "CLIENT:SASL_PLAINTEXT,INTERNAL:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT",
        "sasl.enabled.mechanisms": SCRAM,
        "sasl.mechanism.inter.broker.protocol": SCRAM,
        "sasl.mechanism.controller.protocol": "PLAIN",
        "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
        "listener.name.controller.plain.sasl.jaas.config": controller_jaas,
        "listener.name.internal.scram-sha-512.sasl.jaas.config": _jaas(
            "scram.ScramLoginModule", username=ADMIN, password=credentials.of(ADMIN)
        ),
        "listener.name.client.scram-sha-512.sasl.jaas.config": _jaas("scram.ScramLoginModule"),
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users": f"User:{ADMIN};User:{CONTROLLER}",
        "allow.everyone.if.no.acl.found": "false",
    }


def container_security_env(admin_password: str, listeners: Sequence[str], inter_broker: str) -> dict[str, str]:
    """The same security for a node in a container, as `KAFKA_*` variables (the apache/kafka
    image's convention, which containers/kafka keeps; docker-compose*.yml spell out the same).

    SASL_PLAINTEXT on each of `listeners` and on `CONTROLLER`. The admin is a static PLAIN user
    in the listeners' JAAS configuration, and the brokers sign in to each other and to the
    controllers as that admin (a super user), so a node needs nothing written at format time.
    The client listeners take SCRAM-SHA-512 too, for the platform's principals, whose users the
    provisioning step makes once the brokers are up.
    """
    admin_jaas = _jaas("plain.PlainLoginModule", username=ADMIN, password=admin_password,
                       **{f"user_{ADMIN}": admin_password})
    env = {
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": ",".join(f"{name}:SASL_PLAINTEXT" for name in ("CONTROLLER", *listeners)),
        "KAFKA_INTER_BROKER_LISTENER_NAME": inter_broker,
        "KAFKA_SASL_ENABLED_MECHANISMS": f"PLAIN,{SCRAM}",
        "KAFKA_SASL_MECHANISM_INTER_BROKER_PROTOCOL": "PLAIN",
        "KAFKA_SASL_MECHANISM_CONTROLLER_PROTOCOL": "PLAIN",
        "KAFKA_LISTENER_NAME_CONTROLLER_SASL_ENABLED_MECHANISMS": "PLAIN",
        "KAFKA_LISTENER_NAME_CONTROLLER_PLAIN_SASL_JAAS_CONFIG": admin_jaas,
        "KAFKA_AUTHORIZER_CLASS_NAME": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "KAFKA_SUPER_USERS": f"User:{ADMIN}",
        "KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND": "false",
    }
    for name in listeners:
        env[f"KAFKA_LISTENER_NAME_{name}_PLAIN_SASL_JAAS_CONFIG"] = admin_jaas
        env[f"KAFKA_LISTENER_NAME_{name}_SCRAM___SHA___512_SASL_JAAS_CONFIG"] = _jaas("scram.ScramLoginModule")
    return env


PLAINTEXT_SETTINGS = {"listener.security.protocol.map": "CLIENT:PLAINTEXT,INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT"}


def node_settings(
    node: NodePorts, cluster: Sequence[NodePorts], data_dir: Path, credentials: Credentials | None
) -> dict[str, str]:
    """server.properties of one node of `cluster` (static quorum: every node votes)."""
    voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller}" for n in cluster)
    return {
        **COMMON_SETTINGS,
        **replication_settings(len(cluster)),
        **(security_settings(credentials) if credentials else PLAINTEXT_SETTINGS),
        "node.id": str(node.node_id),
        "listeners": f"CLIENT://127.0.0.1:{node.client},INTERNAL://127.0.0.1:{node.internal},"
        f"CONTROLLER://127.0.0.1:{node.controller}",
        "advertised.listeners": f"CLIENT://127.0.0.1:{node.client},INTERNAL://127.0.0.1:{node.internal},"
        f"CONTROLLER://127.0.0.1:{node.controller}",
        "controller.quorum.voters": voters,
        "log.dirs": str(data_dir),
    }


def properties(settings: dict[str, str]) -> str:
    # Backslashes in values (none today) would need escaping; keys and values are ours.
    return "".join(f"{key}={value}\n" for key, value in settings.items())
