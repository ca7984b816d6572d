"""Settings of the certificates service (`CONFORMITY_*` variables)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator

from conformity_shared.settings import ServiceSettings


class CertificatesSettings(ServiceSettings):
    service_name: str = "certificates"
    suspension_months: int = 6  # a suspension's deadline, after which the certificate is withdrawn
    scheduler_interval_seconds: float = 60.0
    allow_as_of: bool = False  # lets a regulator run the due transitions as of a later day (demos, tests)
    # Public bulk verification's own budget, in numbers asked per client per public rate window
    # (public_rate_window_seconds), besides the request it counts as: at least one full batch.
    public_verify_numbers_per_window: int = Field(default=5000, ge=1000)

    # --- digital certificates (README, "Digital certificates") ---
    # Where the public reaches this service: the credentials' issuer, their status lists' and status
    # pages' URLs (and the QR code) are built on it. Development: http://127.0.0.1:8002 when unset.
    public_base_url: str | None = None
    # The platform's issuing key: a private Ed25519 JWK (JSON, with a kid), inline or in a file.
    # Development without one: the repository's development key (kid dev-...), refused elsewhere.
    credential_signing_key: SecretStr | None = None
    credential_signing_key_file: Path | None = None
    # Keys retired by a rotation, still published so that what they signed keeps verifying: a JWKS
    # of public keys (JSON), inline or in a file.
    credential_retired_keys: str | None = None
    credential_retired_keys_file: Path | None = None
    status_list_max_age_seconds: int = Field(default=60, ge=0, le=3600)  # Cache-Control of the status lists
    # The CJK font of the rendered certificate (a TrueType font or collection); default: the first
    # of Debian's fonts-wqy-microhei, fonts-noto-cjk, fonts-wqy-zenhei found.
    certificate_font_file: Path | None = None

    @field_validator("public_base_url", "credential_signing_key", "credential_signing_key_file",
                     "credential_retired_keys", "credential_retired_keys_file", "certificate_font_file", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return value or None  # compose passes unset variables as empty strings

    def credential_base_url(self) -> str | None:
        if self.public_base_url:
            return self.public_base_url.rstrip("/")
        return "http://127.0.0.1:8002" if self.development else None
