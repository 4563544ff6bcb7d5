"""The `notifications` section: Slack and SNS, and routes that pick channels by kind, severity and source."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from dockhand.config.base import FileModel

Kind = Literal[
    "deploy_started",
    "deploy_skipped",
    "deploy_completed",
    "deploy_failed",
    "deploy_rolled_back",
    "task_failed",
    "crash_loop",
    "service_event",
    "task_restarted",
    "job_failed",
    "job_succeeded",
    "job_skipped",
    "job_timed_out",
    "promotion_approval",
    "promotion_released",
    "promotion_stopped",
]
Severity = Literal["info", "warning", "error"]


class SlackChannel(FileModel):
    mode: Literal["webhook", "bot"] = "webhook"
    channel: str | None = Field(None, description="Channel id or name (bot mode)")
    secret_source: Literal["secretsmanager", "ssm"] = "secretsmanager"
    secret_name: str | None = Field(
        None,
        description="Secret / SecureString holding the webhook URL or bot token; default: the stack's own secret",
    )


class Route(FileModel):
    kinds: list[Kind] | None = None
    severities: list[Severity] | None = None
    clusters: list[str] | None = None
    services: list[str] | None = None
    jobs: list[str] | None = None
    channels: list[Literal["slack", "sns"]] = Field(min_length=1)


class NotificationsSection(FileModel):
    slack: SlackChannel | None = None
    sns: bool = True
    routes: list[Route] = Field(
        default_factory=list, description="First matching route wins; none match → every configured channel"
    )
