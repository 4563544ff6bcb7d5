"""The `jobs` section: scheduled tasks with CronJob-grade controls."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from dockhand.config.accounts import Region
from dockhand.config.base import FileModel, Name

_SCHEDULE = re.compile(
    r"^(cron\(.+\)|rate\(\d+ (minute|minutes|hour|hours|day|days)\)|at\(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\))$"
)


class RetryRule(FileModel):
    """Like AWS Batch evaluateOnExit: the first rule that matches decides."""

    on_exit_code: str | None = Field(None, description="Exit code or glob (`1`, `13*`)")
    on_reason: str | None = Field(None, description="Glob over the container or task reason")
    action: Literal["retry", "fail"]


class JobRetries(FileModel):
    attempts: int = Field(1, ge=1, le=10, description="Total attempts, the first included")
    backoff_seconds: int = Field(60, ge=0, le=86400)
    backoff_multiplier: float = Field(2.0, ge=1.0, le=10.0)
    evaluate_on_exit: list[RetryRule] = Field(default_factory=list, max_length=5)


class NetworkConfig(FileModel):
    subnets: list[str] = Field(min_length=1)
    security_groups: list[str] = Field(default_factory=list)
    assign_public_ip: bool = False


class CapacityProviderItem(FileModel):
    capacity_provider: str
    weight: int = Field(1, ge=0, le=1000)
    base: int = Field(0, ge=0, le=100000)


class ContainerOverride(FileModel):
    name: str
    command: list[str] | None = None
    environment: dict[str, str] = Field(default_factory=dict)
    cpu: int | None = Field(None, ge=0)
    memory: int | None = Field(None, ge=4)


class Job(FileModel):
    name: Name
    schedule: str = Field(description="cron(...), rate(...) or at(yyyy-mm-ddThh:mm:ss)")
    timezone: str = "UTC"
    flexible_window_minutes: int | None = Field(None, ge=1, le=1440)
    account: Name | None = Field(
        None, description="The declared account (`accounts:`) the job runs in; default: Dockhand's own"
    )
    region: Region | None = Field(None, description="The Region the job runs in; default: Dockhand's own")
    cluster: str
    task_definition: str = Field(description="family or family:revision")
    overrides: list[ContainerOverride] = Field(default_factory=list)
    launch_type: Literal["FARGATE", "EC2"] | None = None
    capacity_provider_strategy: list[CapacityProviderItem] | None = None
    network: NetworkConfig | None = None
    platform_version: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    concurrency: Literal["Allow", "Forbid", "Replace"] = "Forbid"
    max_runtime_minutes: int | None = Field(None, ge=1, le=10080)
    retries: JobRetries = Field(default_factory=JobRetries)
    notify_on: list[Literal["failure", "success", "skipped"]] = Field(
        default_factory=lambda: ["failure"]  # type: ignore[arg-type]
    )
    suspend: bool = False
    history_days: int = Field(30, ge=1, le=3650, description="How long run history is kept")

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        if not _SCHEDULE.match(value):
            raise ValueError("expected cron(min hour day month weekday year), rate(N unit) or at(yyyy-mm-ddThh:mm:ss)")
        from dockhand.schedule_expressions import check_expression  # pure; parses AWS cron fields as Scheduler would

        check_expression(value)  # CronError is a ValueError: pydantic names the field
        return value

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if value.startswith("dockhand-"):
            raise ValueError("names starting with 'dockhand-' are reserved for retry and deadline schedules")
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"expected an IANA time zone such as Europe/Berlin, got {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _launch(self) -> Job:
        if self.launch_type and self.capacity_provider_strategy:
            raise ValueError("give either launch_type or capacity_provider_strategy, not both")
        if self.launch_type == "FARGATE" and self.network is None:
            raise ValueError("a FARGATE job needs network (subnets, security_groups)")
        return self
