"""While `make run` runs, the operators' tools started from the project's folder reach its secured
broker as their own principal with no settings of their own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conformity_devstack import stack
from conformity_operators.settings import OperatorSettings


class FakeBroker:
    bootstrap_servers = "127.0.0.1:39092"

    def __init__(self, folder: Path) -> None:
        self.credentials_file = folder / "kafka" / "credentials.json"
        self.credentials_file.parent.mkdir(parents=True)
        self.credentials_file.write_text(json.dumps({"passwords": {"operators": "op-secret", "dlq-replay": "replay-secret"}}))


def test_the_tools_read_the_running_platforms_broker_and_their_own_passwords(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KAFKA_BOOTSTRAP_SERVERS", "KAFKA_SECURITY_PROTOCOL", "KAFKA_CREDENTIALS_FILE", "KAFKA_PASSWORD"):
        monkeypatch.delenv(f"CONFORMITY_{name}", raising=False)
    monkeypatch.chdir(tmp_path)
    written = stack._write_platform_env(Path("var"), FakeBroker(Path("var")))  # type: ignore[arg-type]
    assert written.stat().st_mode & 0o077 == 0  # the file names the credentials: its owner's only

    settings = OperatorSettings()
    assert settings.kafka_bootstrap_servers == "127.0.0.1:39092"
    reading, replaying = settings.kafka_access(), settings.kafka_access(replay=True)
    assert (reading.protocol, reading.username, reading.password) == ("SASL_PLAINTEXT", "operators", "op-secret")
    assert (replaying.username, replaying.password) == ("dlq-replay", "replay-secret")

    monkeypatch.setenv("CONFORMITY_KAFKA_BOOTSTRAP_SERVERS", "elsewhere:9092")
    assert OperatorSettings().kafka_bootstrap_servers == "elsewhere:9092"  # a variable wins over the file


def test_without_a_running_platform_the_tools_keep_their_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONFORMITY_KAFKA_SECURITY_PROTOCOL", raising=False)
    monkeypatch.chdir(tmp_path)
    assert OperatorSettings().kafka_access().authenticated is False
