"""`conformity-token ROLE [--org USCC] [--inspector-id ID] [--subject ID]`: a bearer token for
local use, signed with the development issuer's key (the one `make run`'s issuer publishes, made
on first use under CONFORMITY_DEV_ISSUER_KEYS or ~/.cache/conformity/dev-issuer), naming that
issuer (CONFORMITY_OIDC_ISSUER, else http://127.0.0.1:8009). Services accept it only in development."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from conformity_devstack.dev_keys import KeyStore, access_token, development_issuer
from conformity_shared.auth import Role
from conformity_shared.settings import PLATFORM_AUDIENCE


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="conformity-token", description="Print a bearer token for local use")
    parser.add_argument("role", choices=[r.value for r in Role])
    parser.add_argument("--org", help="organisation code (USCC) for agency and lab tokens")
    parser.add_argument("--inspector-id", help="the inspector's id for inspector tokens")
    parser.add_argument("--subject", help="who the token speaks for; the observer's id for observer tokens (e.g. notary-fuzhou)")
    parser.add_argument("--hours", type=float, default=12.0)
    parser.add_argument("--issuer", help="the issuer to name (default: CONFORMITY_OIDC_ISSUER, else the development issuer)")
    parser.add_argument("--audience", default=PLATFORM_AUDIENCE)
    parser.add_argument("--keys", type=Path, help="the development issuer's key directory")
    args = parser.parse_args(argv)
    try:
        print(access_token(KeyStore(args.keys).signing_key(), args.role, org=args.org, inspector_id=args.inspector_id,
                           subject=args.subject, issuer=args.issuer or development_issuer(), audience=args.audience,
                           ttl=dt.timedelta(hours=args.hours)))
    except ValueError as exc:
        parser.error(str(exc))
    return 0
