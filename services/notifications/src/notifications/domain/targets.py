"""Where webhooks may be sent: HTTPS endpoints on public addresses only (no SSRF).

A subscriber names a URL; the platform must never be made to call into its own network. So a
target is refused when its address (written in the URL, or any address its name resolves to
when a delivery is sent) is private, loopback, link-local, multicast, reserved or unspecified.
Plain http is accepted only to a loopback address, and only in development (a receiver on the
developer's machine); redirects are never followed (a 3xx is a failed attempt).
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from conformity_shared.errors import DomainError

MAX_URL_LENGTH = 2000
LOOPBACK_NAMES = frozenset({"localhost"})

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class TargetRefused(DomainError):
    """An endpoint URL or address the rules refuse (422, naming the rule)."""

    def __init__(self, message: str, rule: str, field: str = "url") -> None:
        super().__init__(message, field, [{"rule": rule, "detail": message}])
        self.rule = rule


def _literal_address(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def address_refusal(address: Address, *, development: bool) -> str | None:
    """Why `address` may not be called (None if it may): only public unicast addresses, and
    loopback in development."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:10.0.0.1 is 10.0.0.1
    if address.is_loopback:
        return None if development else "loopback_address"
    for refused, rule in (
        (address.is_unspecified, "unspecified_address"),
        (address.is_link_local, "link_local_address"),
        (address.is_multicast, "multicast_address"),
        (address.is_private, "private_address"),
        (address.is_reserved, "reserved_address"),
        (not address.is_global, "non_public_address"),
    ):
        if refused:
            return rule
    return None


def check_address(address: Address, host: str, *, development: bool) -> None:
    refusal = address_refusal(address, development=development)
    if refusal is not None:
        raise TargetRefused(f"{host} is (or resolves to) {address}, which webhooks may not reach ({refusal})", refusal)


def check_url(url: str, *, development: bool) -> str:
    """The endpoint URL if the rules admit it; TargetRefused naming the rule otherwise.

    The name's resolution is checked again at every delivery (`check_address`), so a name that
    later points inside the network is refused then."""
    if len(url) > MAX_URL_LENGTH:
        raise TargetRefused(f"the URL is longer than {MAX_URL_LENGTH} characters", "url_too_long")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetRefused(f"not a URL: {exc}", "invalid_url") from None
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("https", "http") or not host:
        raise TargetRefused("an endpoint is an absolute https:// URL", "https_required")
    if parts.username is not None or parts.password is not None:
        raise TargetRefused("credentials in the URL are not accepted (the signature authenticates us)",
                            "credentials_in_url")
    if parts.fragment:
        raise TargetRefused("an endpoint URL has no fragment", "fragment_in_url")
    if port == 0:
        raise TargetRefused("port 0 is not a port", "invalid_port")
    literal = _literal_address(host)
    loopback = host in LOOPBACK_NAMES or (literal is not None and literal.is_loopback)
    if parts.scheme == "http" and not (development and loopback):
        rule = "http_only_to_loopback_in_development" if development else "https_required"
        raise TargetRefused("plain http is accepted only to a loopback address in development; use https", rule)
    if loopback and not development:
        raise TargetRefused(f"{host} is this machine: webhooks may not reach it", "loopback_address")
    if literal is not None:
        check_address(literal, host, development=development)
    elif host.endswith((".local", ".internal", ".localhost")):
        raise TargetRefused(f"{host} is a local name, not a public one", "local_name")
    return url
