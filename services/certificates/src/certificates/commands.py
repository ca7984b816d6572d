"""Typed commands the routes hand to the use cases: one per action a person requests.

The issuance request is its own HTTP body; the transitions are built by their routes from
the path's certificate number and the body (api.py), which validates them first.
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

from conformity_shared.uscc import USCC

from certificates.domain import SuspensionReason


class Command(BaseModel):
    model_config = ConfigDict(frozen=True)


class IssueCertificate(Command):
    """A certification body issues a certificate (the body is the caller's organisation)."""

    holder_uscc: USCC
    holder_name: str = Field(min_length=1, max_length=300)
    scheme: str = Field(description="CCC, voluntary_product, management_system or service")
    field: str = Field(min_length=1, max_length=40, description="the certification field, from approval's catalogue")
    product: str = Field(min_length=1, max_length=500, description="product, management system or service certified")
    standard: str = Field(min_length=1, max_length=200)
    valid_from: dt.date | None = Field(default=None, description="default: today")
    valid_until: dt.date | None = Field(default=None, description="default: the scheme's validity")


class SuspendCertificate(Command):
    """Suspend a valid certificate; ``holder_reference`` is the holder's written request when
    the reason is ``holder_request``."""

    number: str
    reason: SuspensionReason
    holder_reference: str | None = None
    note: str | None = None


class ReinstateCertificate(Command):
    number: str
    reason: str


class WithdrawCertificate(Command):
    number: str
    reason: str


class CancelCertificate(Command):
    """Cancel a certificate at the holder's request, which ``holder_reference`` records."""

    number: str
    reason: str
    holder_reference: str | None = None
