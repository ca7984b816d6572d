"""Who may open the dashboard: a regulator or an operator, by bearer token (the API and the event
stream, for scripts) or by the session the page's sign-in through the issuer opened (browsers)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from conformity_shared.auth import Principal, Role, admit, principal_of_token, unauthorized

DASHBOARD_ROLES = (Role.REGULATOR, Role.OPERATOR)

bearer = HTTPBearer(auto_error=False)


async def signed_in(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Principal | None:
    """The bearer token's principal if one is sent, else the session's; None if neither."""
    if credentials is not None:
        return await principal_of_token(request.app.state.token_verifier, credentials.credentials)
    return await request.app.state.sign_in.session_principal(request)


async def viewer(principal: Annotated[Principal | None, Depends(signed_in)]) -> Principal:
    """A regulator or an operator: 401 without a token or session, 403 for any other role."""
    if principal is None:
        raise unauthorized("sign in (/auth/sign-in) or send a bearer token (Authorization: Bearer <token>)")
    return admit(principal, DASHBOARD_ROLES)


Viewer = Annotated[Principal, Depends(viewer)]
