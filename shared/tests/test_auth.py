"""Claims to principals: our `role` claim or Keycloak's realm roles, the organisation and the
inspector id, and what each role's token must carry."""

import pytest

from conformity_shared.auth import InvalidToken, Role, identity_claims, principal_from_claims

ORG = "91350100M000100Y43"


def test_claims_carry_role_and_organisation() -> None:
    principal = principal_from_claims(identity_claims(Role.AGENCY, org=ORG))
    assert (principal.role, principal.org, principal.subject) == (Role.AGENCY, ORG, ORG)


def test_inspector_claims_need_an_inspector_id() -> None:
    with pytest.raises(ValueError, match="inspector id"):
        identity_claims(Role.INSPECTOR)
    with pytest.raises(InvalidToken, match="inspector_id"):
        principal_from_claims({"sub": "someone", "role": "inspector"})


def test_claims_for_an_invalid_organisation_code_are_refused() -> None:
    with pytest.raises(ValueError, match="18th"):
        identity_claims(Role.AGENCY, org="91350100M000100Y44")
    with pytest.raises(InvalidToken, match="not a valid USCC"):
        principal_from_claims({"sub": "x", "role": "agency", "org": "91350100M000100Y44"})


def test_an_agency_token_without_an_organisation_is_refused() -> None:
    with pytest.raises(InvalidToken, match="org claim"):
        principal_from_claims({"sub": "x", "role": "agency"})


def test_organisation_code_is_normalised_to_upper_case() -> None:
    assert principal_from_claims({"sub": "x", "role": "lab", "org": "91350100m000100y43"}).org == ORG


def test_observer_claims_name_the_observer_as_subject() -> None:
    principal = principal_from_claims(identity_claims(Role.OBSERVER, subject="notary-fuzhou"))
    assert (principal.role, principal.subject, principal.actor) == (Role.OBSERVER, "notary-fuzhou", "observer:notary-fuzhou")
    with pytest.raises(ValueError, match="subject"):
        identity_claims(Role.OBSERVER)


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.PLATFORM])
def test_operators_and_relying_platforms_are_roles_of_their_own(role: Role) -> None:
    assert principal_from_claims(identity_claims(role, subject="someone")).role is role


def test_keycloak_realm_roles_give_the_first_of_ours_found() -> None:
    claims = {"sub": "f3c1", "realm_access": {"roles": ["offline_access", "default-roles-conformity", "regulator", "lab"]}}
    assert principal_from_claims(claims).role is Role.REGULATOR


def test_a_role_claim_comes_before_the_realm_roles() -> None:
    claims = {"sub": "f3c1", "role": "operator", "realm_access": {"roles": ["regulator"]}}
    assert principal_from_claims(claims).role is Role.OPERATOR


def test_a_token_with_none_of_our_roles_is_refused() -> None:
    with pytest.raises(InvalidToken, match="none of the platform's roles"):
        principal_from_claims({"sub": "f3c1", "realm_access": {"roles": ["offline_access", "uma_authorization"]}})
    with pytest.raises(InvalidToken, match="none of the platform's roles"):
        principal_from_claims({"sub": "f3c1", "role": "admin"})


def test_user_attributes_mapped_as_lists_are_read_as_one_value() -> None:
    claims = {"sub": "f3c1", "realm_access": {"roles": ["lab"]}, "org": [ORG]}
    assert principal_from_claims(claims).org == ORG
    with pytest.raises(InvalidToken, match="several values"):
        principal_from_claims({**claims, "org": [ORG, "91350100M000100Y43"]})
