"""Development tokens: `conformity-token` signs with the development issuer's key (made on first
use, outside the repository) and `testing.token` with the tests' key; each mints every role, an
observer with its subject, and each is accepted by a development service trusting that key."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from conformity_devstack import dev_keys, testing, tokens
from conformity_shared.auth import Role
from conformity_shared.settings import DEVELOPMENT_ISSUER


def principal_of(token: str, keys: Path, issuer: str = DEVELOPMENT_ISSUER):  # noqa: ANN201
    key_set = json.dumps(dev_keys.jwks(dev_keys.KeyStore(keys).published()))
    return asyncio.run(testing.verified(token, key_set, issuer))


def test_the_token_command_mints_an_observer_token_with_its_subject(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert tokens.main(["observer", "--subject", "notary-fuzhou", "--keys", str(tmp_path), "--issuer", DEVELOPMENT_ISSUER]) == 0
    principal = principal_of(capsys.readouterr().out.strip(), tmp_path)
    assert (principal.role, principal.subject) == (Role.OBSERVER, "notary-fuzhou")


def test_the_token_command_makes_the_development_key_on_first_use_private_and_marked(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    keys = tmp_path / "dev-issuer"
    assert tokens.main(["regulator", "--keys", str(keys)]) == 0
    [pem] = keys.glob("*.pem")
    assert pem.stem.startswith("dev-") and (keys / "current").read_text() == pem.stem
    assert pem.stat().st_mode & 0o077 == 0  # readable by its owner only
    assert tokens.main(["regulator", "--keys", str(keys)]) == 0
    assert len(list(keys.glob("*.pem"))) == 1  # the same key signs again


def test_the_token_command_refuses_an_observer_without_a_subject(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        tokens.main(["observer"])
    assert "subject" in capsys.readouterr().err


def test_the_test_token_names_its_subject() -> None:
    header = testing.token(Role.OBSERVER, subject="discipline-office")["Authorization"]
    principal = asyncio.run(testing.verified(header.removeprefix("Bearer ")))
    assert (principal.role, principal.subject) == (Role.OBSERVER, "discipline-office")


def test_a_rotated_key_signs_while_the_old_one_stays_published_until_retired(tmp_path: Path) -> None:
    store = dev_keys.KeyStore(tmp_path)
    old = store.signing_key()
    old_token = dev_keys.access_token(old, Role.REGULATOR, issuer=DEVELOPMENT_ISSUER)
    new = store.rotate()
    assert store.signing_key().kid == new.kid != old.kid
    assert [k.kid for k in store.published()] == [new.kid, old.kid]
    assert principal_of(old_token, tmp_path).role is Role.REGULATOR
    with pytest.raises(ValueError, match="signs now"):
        store.retire(new.kid)
    store.retire(old.kid)
    assert [k.kid for k in store.published()] == [new.kid]
    with pytest.raises(Exception, match="unknown key id"):
        principal_of(old_token, tmp_path)
