"""What the certificates service's use cases need beyond the database, built once per app (the
runtime's context): the signing of digital certificates and public verification's read path."""

from __future__ import annotations

from dataclasses import dataclass

from certificates.public_read import PublicReader
from certificates.service.digital import Digital


@dataclass(frozen=True)
class CertificatesContext:
    digital: Digital
    reader: PublicReader
