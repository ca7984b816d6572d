"""Where the portal finds the services and the issuer: one settings class, `CONFORMITY_*` variables.

The defaults are what `make run` starts on this machine (services on 8001-8004, the portal on 8005).
"""

from __future__ import annotations

from pydantic import Field

from conformity_shared.settings import HttpEdgeSettings, SignInSettings

SERVICES = ("approval", "certificates", "supervision", "proficiency")


class PortalSettings(SignInSettings, HttpEdgeSettings):
    """The portal: the services it calls (their public HTTP APIs only, with the signed-in user's
    token), its own public URL (where the issuer sends the browser back), its client id at the
    issuer, and its HTTP edge like every app of the platform."""

    approval_url: str = "http://127.0.0.1:8001"
    certificates_url: str = "http://127.0.0.1:8002"
    supervision_url: str = "http://127.0.0.1:8003"
    proficiency_url: str = "http://127.0.0.1:8004"
    portal_url: str = "http://127.0.0.1:8005"
    oidc_client_id: str = "conformity-portal"
    portal_backend_timeout_seconds: float = Field(default=15, gt=0)
    # A CSV upload issues one certificate per row through the certificates API: at most this many rows.
    portal_max_upload_rows: int = Field(default=500, ge=1)

    def service_url(self, service: str) -> str:
        return str(getattr(self, f"{service}_url")).rstrip("/")
