#!/usr/bin/env bash
# DEVELOPMENT ONLY: writes var/compose/dev.env, the settings docker-compose.yml and
# docker-compose.cluster.yml leave without a default because they are secrets, filled with
# values fit for a development machine and nothing else:
#
#   CONFORMITY_ENV=development             the services accept development keys only then
#   CONFORMITY_OIDC_JWKS                   the development issuer's public keys (conformity-dev-keys jwks)
#   CONFORMITY_CREDENTIAL_SIGNING_KEY      a fresh private Ed25519 JWK for the certificates' credentials,
#                                          kid "dev-compose-<date>-<random>": a "dev-" key, which the
#                                          certificates service refuses to start with outside development
#   CONFORMITY_PORTAL_SESSION_SECRET       a fresh random key of the portal's session cookie, shared by
#                                          its replicas
#
# The file is readable by its owner only and lives under var/ (ignored by git). Use it with:
#   set -a; . var/compose/dev.env; set +a; docker-compose up -d
# A deployment generates its own key (python -m certificates.signing new-key --kid <not dev->)
# and secrets, and keeps them in its secret store (README.md, "Containers"; SECURITY.md).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
UV=(${PYTHON:-python3} -m uv run --frozen --quiet)
OUT="${1:-$ROOT/var/compose/dev.env}"
mkdir -p "$(dirname "$OUT")"
cd "$ROOT"
kid="dev-compose-$(date -u +%Y%m%d)-$(head -c 4 /dev/urandom | od -An -tx1 | tr -d ' \n')"
signing_key=$("${UV[@]}" python -m certificates.signing new-key --kid "$kid")
jwks=$("${UV[@]}" conformity-dev-keys jwks)
session=$("${UV[@]}" python -c 'import secrets; print("dev-portal-" + secrets.token_urlsafe(32))')
umask 077
cat >"$OUT" <<ENV
# DEVELOPMENT ONLY - written by deploy/compose-dev-env.sh ($(date -u +%FT%TZ)); never use these
# values for a deployment. The credential key's kid starts with "dev-": the certificates service
# refuses it unless CONFORMITY_ENV=development.
CONFORMITY_ENV=development
CONFORMITY_OIDC_JWKS='$jwks'
CONFORMITY_CREDENTIAL_SIGNING_KEY='$signing_key'
CONFORMITY_PORTAL_SESSION_SECRET=$session
ENV
echo "development-only settings written to ${OUT#$ROOT/} (credential key $kid)"
