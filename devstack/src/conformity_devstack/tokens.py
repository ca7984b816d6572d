"""`conformity-token ROLE [--org USCC] [--inspector-id ID] [--subject ID]`: a bearer token for
local use, signed with the development secret (or CONFORMITY_JWT_SECRET)."""

from __future__ import annotations

import argparse
import datetime as dt
import os

from conformity_shared.auth import Role, issue_token
from conformity_shared.settings import DEV_JWT_SECRET


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="conformity-token", description="Print a bearer token for local use")
    parser.add_argument("role", choices=[r.value for r in Role])
    parser.add_argument("--org", help="organisation code (USCC) for agency and lab tokens")
    parser.add_argument("--inspector-id", help="the inspector's id for inspector tokens")
    parser.add_argument("--subject", help="the observer's id for observer tokens (e.g. notary-fuzhou)")
    parser.add_argument("--hours", type=float, default=12.0)
    args = parser.parse_args(argv)
    secret = os.environ.get("CONFORMITY_JWT_SECRET", DEV_JWT_SECRET)
    try:
        print(issue_token(secret, args.role, org=args.org, inspector_id=args.inspector_id, subject=args.subject,
                          ttl=dt.timedelta(hours=args.hours)))
    except ValueError as exc:
        parser.error(str(exc))
    return 0
