"""Who is calling: a bearer token issued by the platform's OpenID Connect issuer, mapped to a
`Principal` (role, organisation code, inspector id, subject).

No service signs tokens: they verify them with the issuer's published keys (`oidc`). Routes
declare what they need with `Depends(require(Role.AGENCY, ...))`; object-level checks (is this
application the caller's own?) stay in the route or service, where the object is known.

Roles come from a `role` claim, or else from Keycloak's `realm_access.roles` (the first of ours
found); the organisation from an `org` claim (a USCC) and the inspector from `inspector_id`
(SECURITY.md, "Identity", says how a Keycloak realm produces them).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Protocol

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from conformity_shared import uscc


class Role(StrEnum):
    AGENCY = "agency"  # a certification body or testing lab applying for / holding an approval
    LAB = "lab"
    INSPECTOR = "inspector"
    REGULATOR = "regulator"
    # An outside observer of the regulator's draws (a notary office, the discipline-inspection
    # office); the token's subject is the observer's id, the party it commits and reveals as.
    OBSERVER = "observer"
    # The regulator's operations staff watching the streams (the dashboard): they see what
    # happened, not the personal data or the unpublished assignments inside it.
    OPERATOR = "operator"
    # An e-commerce platform or another relying party (the notifications service's callers).
    PLATFORM = "platform"


class InvalidToken(Exception):
    """A bearer token that is refused; `reason` says why, for the 401 answer."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class KeysUnavailable(Exception):
    """The issuer's keys could not be fetched: no token can be verified for now (503)."""


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str
    role: Role
    org: str | None = None  # USCC of the agency or lab
    inspector_id: str | None = None

    @property
    def actor(self) -> str:
        return f"{self.role}:{self.inspector_id or self.org or self.subject}"


def identity_claims(
    role: Role | str, *, org: str | None = None, inspector_id: str | None = None, subject: str | None = None
) -> dict[str, str]:
    """The claims that say who a token speaks for (`sub`, `role`, `org`, `inspector_id`), checked
    as the services will check them; an issuer adds `iss`, `aud`, `iat`, `exp` and signs."""
    role = Role(role)
    if role in (Role.AGENCY, Role.LAB) and not org:
        raise ValueError(f"a token for role {role} needs an organisation code (org)")
    if org:
        org = uscc.validate(org)  # InvalidUSCC is a ValueError naming the broken rule
    if role is Role.INSPECTOR and not inspector_id:
        raise ValueError("an inspector token needs an inspector id")
    if role is Role.OBSERVER and not subject:
        raise ValueError("an observer token needs a subject: the observer's id, e.g. notary-fuzhou")
    claims = {"sub": subject or inspector_id or org or role.value, "role": role.value}
    if org:
        claims["org"] = org
    if inspector_id:
        claims["inspector_id"] = inspector_id
    return claims


ROLE_NAMES = frozenset(role.value for role in Role)


def role_of(claims: Mapping[str, Any]) -> Role:
    """Our role: the `role` claim, or else the first of our roles among Keycloak's realm roles."""
    named = claims.get("role")
    if named is not None:
        try:
            return Role(named)
        except ValueError:
            raise InvalidToken(f"the token's role {named!r} is none of the platform's roles") from None
    realm = claims.get("realm_access")
    realm_roles = realm.get("roles", []) if isinstance(realm, Mapping) else []
    for name in realm_roles if isinstance(realm_roles, list) else []:
        if name in ROLE_NAMES:
            return Role(name)
    raise InvalidToken("the token carries none of the platform's roles (a role claim or realm_access.roles)")


def single_value(claims: Mapping[str, Any], name: str) -> str | None:
    """A claim as one string: a user attribute mapped by an identity provider may come as a list."""
    value = claims.get(name)
    if isinstance(value, list):
        if len(value) > 1:
            raise InvalidToken(f"the token's {name} claim has several values")
        value = value[0] if value else None
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidToken(f"the token's {name} claim is not a string")
    return value.strip()


def principal_from_claims(claims: Mapping[str, Any]) -> Principal:
    """The principal a verified token speaks for; a token missing what its role needs is refused."""
    role = role_of(claims)
    org, inspector_id = single_value(claims, "org"), single_value(claims, "inspector_id")
    if org:
        try:
            org = uscc.validate(org)
        except ValueError as exc:
            raise InvalidToken(f"the token's org claim is not a valid USCC: {exc}") from None
    if role in (Role.AGENCY, Role.LAB) and not org:
        raise InvalidToken(f"a {role} token needs an org claim (the organisation's USCC)")
    if role is Role.INSPECTOR and not inspector_id:
        raise InvalidToken("an inspector token needs an inspector_id claim")
    subject = single_value(claims, "sub")
    if not subject:
        raise InvalidToken("the token has no subject (sub)")
    return Principal(subject=subject, role=role, org=org, inspector_id=inspector_id)


class Verifier(Protocol):
    """What a route needs of token verification (`oidc.TokenVerifier` is the one there is)."""

    async def verify(self, token: str) -> Principal: ...


_bearer = HTTPBearer(auto_error=False)


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"})


async def principal_of_token(verifier: Verifier, token: str) -> Principal:
    """Verify `token`: the principal, or the HTTP error a route answers (401, or 503 without keys)."""
    try:
        return await verifier.verify(token)
    except InvalidToken as exc:
        raise unauthorized(f"invalid token: {exc.reason}") from None
    except KeysUnavailable as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=str(exc), headers={"Retry-After": "5"}) from None


async def current_principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    if credentials is None:
        raise unauthorized("a bearer token is required (Authorization: Bearer <token>)")
    return await principal_of_token(request.app.state.token_verifier, credentials.credentials)


def admit(principal: Principal, roles: tuple[Role, ...]) -> Principal:
    if principal.role not in roles:
        allowed = ", ".join(r.value for r in roles)
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=f"role {principal.role} may not do this (allowed: {allowed})")
    return principal


def require(*roles: Role) -> Callable[..., Any]:
    """A dependency that admits only the given roles (403 otherwise)."""

    async def dependency(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        return admit(principal, roles)

    return dependency
