"""What ``GET /api/alerts`` answers: the rules as they may be shown (no webhook secrets,
no headers) and the latest deliveries, of findings and of lifecycle states."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class RuleView(BaseModel):
    """A rule without its secrets: the webhook's origin only, and never its headers."""

    name: str
    kinds: Literal["all"] | list[str] = Field(description="empty: lifecycle states only")
    min_severity: str
    lifecycle_states: list[str]
    token_ids: list[str]
    owners: list[str]
    webhook: str = Field(description="scheme, host and port; path, query and credentials hidden")


class DeliveryView(BaseModel):
    """One alert: a finding, or a token entering a lifecycle state, sent (or being sent) to
    a rule's webhook."""

    rule: str
    source: Literal["finding", "lifecycle"]
    finding_id: int | None = Field(description="the finding's id; null for a lifecycle alert")
    kind: str | None = Field(description="null when the finding was deleted, or lifecycle")
    severity: str | None
    lifecycle_id: int | None = Field(
        description="the lifecycle alert's id (a token entering a state); null for a finding"
    )
    lifecycle_state: str | None = Field(description="expiring_soon, rotated_still_used or stale")
    token_id: str | None
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    http_status: int | None = Field(description="of the last attempt that got an answer")
    last_error: str | None
    queued_at: datetime
    updated_at: datetime


class AlertsOverview(BaseModel):
    """The configured rules, and the latest deliveries, newest first."""

    rules: list[RuleView]
    deliveries: list[DeliveryView]
