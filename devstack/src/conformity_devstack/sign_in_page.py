"""The development issuer's pages: the sign-in form (pick a role, an organisation, an inspector id)
and the refusal of a malformed authorization request. Every value is escaped."""

from __future__ import annotations

from html import escape
from typing import Any

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 34rem; margin: 2rem auto; padding: 0 1rem; color: #1d1d1f; }
.warning { background: #fff3cd; border: 2px solid #d39e00; padding: .8rem 1rem; border-radius: 6px; }
.error { background: #fde2e1; border: 1px solid #c0392b; padding: .6rem 1rem; border-radius: 6px; }
label { display: block; margin-top: .9rem; font-weight: 600; }
input, select { width: 100%; padding: .4rem; margin-top: .2rem; box-sizing: border-box; }
button { margin-top: 1.2rem; padding: .5rem 1.4rem; font-size: 1rem; }
small { color: #555; }
"""

WARNING = (
    "<p class='warning' id='development-warning'><strong>Development sign-in.</strong> This is the platform's "
    "development issuer: there is no password, anyone can sign in as anyone, and its keys are refused by every "
    "service outside CONFORMITY_ENV=development. Never use it in production.</p>"
)


def page(title: str, body: str) -> str:
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{escape(title)}</title>"
            f"<style>{STYLE}</style></head><body><h1>{escape(title)}</h1>{WARNING}{body}</body></html>")


def hidden(request: Any) -> str:
    names = ("client_id", "redirect_uri", "state", "code_challenge", "code_challenge_method", "nonce")
    return "".join(
        f"<input type='hidden' name='{name}' value='{escape(getattr(request, name))}'>"
        for name in names if getattr(request, name) is not None
    )


def form(request: Any, roles: list[str], error: str | None = None) -> str:
    options = "".join(f"<option value='{escape(role)}'>{escape(role)}</option>" for role in roles)
    problem = f"<p class='error' role='alert'>{escape(error)}</p>" if error else ""
    body = (
        f"<p>Signing in to <strong>{escape(request.client_id)}</strong>.</p>{problem}"
        "<form method='post' action='/authorize'>"
        f"{hidden(request)}"
        f"<label for='role'>Role</label><select id='role' name='role'>{options}</select>"
        "<label for='org'>Organisation (USCC)</label><input id='org' name='org' autocomplete='off'>"
        "<small>required for agency and lab</small>"
        "<label for='inspector_id'>Inspector id</label><input id='inspector_id' name='inspector_id' autocomplete='off'>"
        "<small>required for inspector</small>"
        "<label for='subject'>Subject</label><input id='subject' name='subject' autocomplete='off'>"
        "<small>who you are (required for observer, e.g. notary-fuzhou)</small>"
        "<button type='submit' id='sign-in'>Sign in</button></form>"
    )
    return page("Development sign-in", body)


def refusal(problem: str) -> str:
    return page("Sign-in request refused", f"<p class='error' role='alert'>{escape(problem)}</p>")
