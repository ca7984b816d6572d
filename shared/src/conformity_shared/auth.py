"""Bearer tokens (HS256 JWT) carrying a role and the organisation code, inspector id or observer id.

Routes declare what they need with `Depends(require(Role.AGENCY, ...))`; object-level
checks (is this application the caller's own?) stay in the route or service, where the
object is known.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

import jwt
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from conformity_shared import uscc

ISSUER = "conformity-platform"


class Role(StrEnum):
    AGENCY = "agency"  # a certification body or testing lab applying for / holding an approval
    LAB = "lab"
    INSPECTOR = "inspector"
    REGULATOR = "regulator"
    # An outside observer of the regulator's draws (a notary office, the discipline-inspection
    # office); the token's subject is the observer's id, the party it commits and reveals as.
    OBSERVER = "observer"


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str
    role: Role
    org: str | None = None  # USCC of the agency or lab
    inspector_id: str | None = None

    @property
    def actor(self) -> str:
        return f"{self.role}:{self.inspector_id or self.org or self.subject}"


def issue_token(
    secret: str,
    role: Role | str,
    *,
    org: str | None = None,
    inspector_id: str | None = None,
    subject: str | None = None,
    ttl: dt.timedelta = dt.timedelta(hours=12),
) -> str:
    role = Role(role)
    if role in (Role.AGENCY, Role.LAB) and not org:
        raise ValueError(f"a token for role {role} needs an organisation code (org)")
    if org:
        org = uscc.validate(org)  # InvalidUSCC is a ValueError naming the broken rule
    if role is Role.INSPECTOR and not inspector_id:
        raise ValueError("an inspector token needs an inspector id")
    if role is Role.OBSERVER and not subject:
        raise ValueError("an observer token needs a subject: the observer's id, e.g. notary-fuzhou")
    now = dt.datetime.now(dt.UTC)
    claims = {
        "iss": ISSUER,
        "sub": subject or inspector_id or org or role.value,
        "role": role.value,
        "iat": now,
        "exp": now + ttl,
    }
    if org:
        claims["org"] = org
    if inspector_id:
        claims["inspector_id"] = inspector_id
    return jwt.encode(claims, secret, algorithm="HS256")


def decode_token(secret: str, token: str) -> Principal:
    claims = jwt.decode(token, secret, algorithms=["HS256"], issuer=ISSUER, options={"require": ["exp", "sub"]})
    return Principal(
        subject=claims["sub"],
        role=Role(claims["role"]),
        org=claims["org"].strip().upper() if claims.get("org") else None,
        inspector_id=claims.get("inspector_id"),
    )


_bearer = HTTPBearer(auto_error=False)


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"})


async def current_principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    if credentials is None:
        raise _unauthorized("a bearer token is required (Authorization: Bearer <token>)")
    try:
        return decode_token(request.app.state.jwt_secret, credentials.credentials)
    except (jwt.PyJWTError, KeyError, ValueError) as exc:
        raise _unauthorized(f"invalid token: {exc}") from None


def require(*roles: Role) -> Callable[..., Principal]:
    """A dependency that admits only the given roles (403 otherwise)."""

    async def dependency(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if principal.role not in roles:
            allowed = ", ".join(r.value for r in roles)
            raise HTTPException(status.HTTP_403_FORBIDDEN, detail=f"role {principal.role} may not do this (allowed: {allowed})")
        return principal

    return dependency
