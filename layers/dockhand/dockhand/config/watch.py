"""The `watch` section: which stops alert, crash-loop windows, history, restarts of standalone tasks."""

from __future__ import annotations

from pydantic import Field

from dockhand.config.base import FileModel
from dockhand.config.jobs import NetworkConfig


class RestartPolicy(FileModel):
    """How a stopped standalone task is run again."""

    families: list[str] = Field(default_factory=list, description="Task-definition families that opt in")
    max_attempts: int = Field(3, ge=0, le=20)
    backoff_seconds: int = Field(30, ge=0, le=3600)
    backoff_multiplier: float = Field(2.0, ge=1.0, le=10.0)
    max_backoff_seconds: int = Field(900, ge=0, le=86400)
    never_retry: list[str] = Field(
        default_factory=lambda: ["image_pull", "configuration"],
        description="Causes that are never restarted",
    )
    network: NetworkConfig | None = Field(
        None,
        description="awsvpc network of restarted tasks (a stopped task's security groups are not in its event)",
    )


class WatchSection(FileModel):
    alert_on_scale_in: bool = False
    alert_on_user_stop: bool = False
    alert_on_clean_exit: bool = False
    crash_loop_window_minutes: int = Field(10, ge=1, le=1440)
    history_days: int = Field(14, ge=1, le=3650)
    restart: RestartPolicy = Field(default_factory=RestartPolicy)
