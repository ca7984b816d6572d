"""Object-level authorization, decided where the object is known: an agency acts and looks
only on its own organisation (another's objects answer exactly like missing ones). Which
roles may call a use case at all is declared on the route."""

from __future__ import annotations

from conformity_shared.auth import Principal, Role


def own_organisation(principal: Principal) -> str | None:
    """An agency's own organisation (the USCC in its token); None for the regulator and inspectors."""
    if principal.role is not Role.AGENCY:
        return None
    return (principal.org or "").upper()


def is_another_organisation(principal: Principal, organisation_uscc: str) -> bool:
    """True when an agency asks about, or acts for, another organisation."""
    own = own_organisation(principal)
    return own is not None and organisation_uscc != own
