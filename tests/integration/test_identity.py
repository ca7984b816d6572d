"""Identity on the platform as `make run` starts it: the development issuer as a process, a
service trusting it, `conformity-token`'s output accepted, and a service that refuses to start
when the keys it would trust are development keys and CONFORMITY_ENV is not development."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conformity_devstack.stack import Stack
from conformity_devstack.testing import jwks_for_tests, token
from conformity_shared.auth import Role

CONFORMITY_TOKEN = str(Path(sys.executable).with_name("conformity-token"))


@pytest.fixture
def stack(kafka: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    monkeypatch.setenv("CONFORMITY_DEV_ISSUER_KEYS", str(tmp_path / "issuer-keys"))
    stack = Stack(tmp_path, kafka, env={"CONFORMITY_LOG_JSON": "false"})
    try:
        yield stack
    finally:
        stack.stop()


def conformity_token(issuer: str, *args: str) -> str:
    done = subprocess.run([CONFORMITY_TOKEN, *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "CONFORMITY_OIDC_ISSUER": issuer})
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.integration
def test_conformity_token_output_is_accepted_by_a_service_the_stack_started(stack: Stack) -> None:
    issuer = stack.start_identity()
    stack.start_service("certificates")
    url = stack.url("certificates")
    regulator = {"Authorization": f"Bearer {conformity_token(issuer, 'regulator')}"}
    answer = httpx.get(f"{url}/certificates/MSC2025NONE00000001", headers=regulator, timeout=30)
    assert answer.status_code == 404, answer.text  # past authentication: the certificate does not exist
    stranger = httpx.get(f"{url}/certificates/MSC2025NONE00000001", headers=token(Role.REGULATOR), timeout=30)
    assert stranger.status_code == 401 and "unknown key id" in stranger.json()["detail"]


@pytest.mark.integration
def test_a_service_refuses_to_start_on_development_keys_unless_the_environment_is_development(stack: Stack) -> None:
    stack.start_identity()  # its JWKS holds a dev- key
    with pytest.raises(RuntimeError, match="exited"):
        stack.restart("approval", env={"CONFORMITY_ENV": "production"}, timeout=60)
    log = (stack.workdir / "approval.log").read_text()
    assert "development keys" in log and "CONFORMITY_ENV" in log


@pytest.mark.integration
def test_a_service_refuses_to_start_with_an_inline_key_set_outside_development(stack: Stack) -> None:
    production = {"CONFORMITY_ENV": "production", "CONFORMITY_OIDC_ISSUER": "https://issuer.example",
                  "CONFORMITY_OIDC_JWKS": jwks_for_tests()}
    with pytest.raises(RuntimeError, match="exited"):
        stack.restart("approval", env=production, timeout=60)
    assert "CONFORMITY_OIDC_JWKS" in (stack.workdir / "approval.log").read_text()
