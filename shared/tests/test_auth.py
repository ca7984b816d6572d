import datetime as dt

import jwt
import pytest

from conformity_shared.auth import Role, decode_token, issue_token

SECRET = "a-test-secret-long-enough-for-hs256-keys"


def test_token_carries_role_and_organisation() -> None:
    principal = decode_token(SECRET, issue_token(SECRET, Role.AGENCY, org="91350100M000100Y43"))
    assert principal.role is Role.AGENCY
    assert principal.org == "91350100M000100Y43"


def test_inspector_token_needs_an_inspector_id() -> None:
    with pytest.raises(ValueError, match="inspector id"):
        issue_token(SECRET, Role.INSPECTOR)


def test_token_signed_with_another_secret_is_refused() -> None:
    with pytest.raises(jwt.InvalidSignatureError):
        decode_token(SECRET, issue_token("another-secret-long-enough-for-hs256-keys", Role.REGULATOR))


def test_expired_token_is_refused() -> None:
    token = issue_token(SECRET, Role.REGULATOR, ttl=dt.timedelta(seconds=-1))
    with pytest.raises(jwt.ExpiredSignatureError):
        decode_token(SECRET, token)


def test_token_for_an_invalid_organisation_code_is_refused() -> None:
    with pytest.raises(ValueError, match="18th"):
        issue_token(SECRET, Role.AGENCY, org="91350100M000100Y44")


def test_organisation_code_is_normalised_to_upper_case() -> None:
    assert decode_token(SECRET, issue_token(SECRET, Role.LAB, org="91350100m000100y43")).org == "91350100M000100Y43"


def test_observer_token_names_the_observer_as_its_subject() -> None:
    principal = decode_token(SECRET, issue_token(SECRET, Role.OBSERVER, subject="notary-fuzhou"))
    assert (principal.role, principal.subject) == (Role.OBSERVER, "notary-fuzhou")
    assert principal.actor == "observer:notary-fuzhou"


def test_observer_token_needs_a_subject() -> None:
    with pytest.raises(ValueError, match="subject"):
        issue_token(SECRET, Role.OBSERVER)
