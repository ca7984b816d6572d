"""Composition root of the approval service."""

from __future__ import annotations

from fastapi import FastAPI

from conformity_shared import events, topics
from conformity_shared.runtime import ServiceDefinition, create_service_app

from approval import api, consumers, db
from approval.policy import Policy
from approval.settings import ApprovalSettings


def create_app(settings: ApprovalSettings | None = None) -> FastAPI:
    return create_service_app(
        settings or ApprovalSettings(),
        ServiceDefinition(
            title="Approval",
            description="Qualifications of certification bodies and testing labs: the notification-commitment and "
            "standard paths, post-approval verification, and the approval lifecycle.",
            metadata=db.metadata,
            migrations="approval:migrations",
            routers=[api.router],
            consumes=topics.CONSUMES["approval"],
            handlers=consumers.handlers,
            publishes=[
                events.ApprovalGrantedV1,
                events.ApprovalSuspendedV1,
                events.ApprovalReinstatedV1,
                events.ApprovalScopeReducedV1,
                events.ApprovalRevokedV1,
                events.CommitmentBreachedV1,
            ],
            # The rules, catalogue and calendar in force, built once: a configuration the domain
            # cannot use stops the service at start instead of failing the first request.
            context=Policy.from_settings,
        ),
    )
