"""Development tokens: `conformity-token` and `testing.token` mint every role, an observer with its subject."""

from __future__ import annotations

import pytest

from conformity_shared.auth import Role, decode_token
from conformity_shared.settings import DEV_JWT_SECRET
from conformity_devstack import testing, tokens


def test_the_token_command_mints_an_observer_token_with_its_subject(capsys: pytest.CaptureFixture[str]) -> None:
    assert tokens.main(["observer", "--subject", "notary-fuzhou"]) == 0
    principal = decode_token(DEV_JWT_SECRET, capsys.readouterr().out.strip())
    assert (principal.role, principal.subject) == (Role.OBSERVER, "notary-fuzhou")


def test_the_token_command_refuses_an_observer_without_a_subject(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        tokens.main(["observer"])
    assert "subject" in capsys.readouterr().err


def test_the_test_token_names_its_subject() -> None:
    header = testing.token(Role.OBSERVER, subject="discipline-office")["Authorization"]
    principal = decode_token(DEV_JWT_SECRET, header.removeprefix("Bearer "))
    assert (principal.role, principal.subject) == (Role.OBSERVER, "discipline-office")
