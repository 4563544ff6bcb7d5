"""The user's declaration file (dockhand.yaml) as pydantic models.

Every wing reads its own section: `deploy`, `watch`, `jobs`, `notifications`. The JSON Schema in
schema/dockhand.schema.json is generated from these models (`dockhand schema`), never written by hand.
Loading errors name the file, the path to the field, the value given and what was expected.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from dockhand.errors import ConfigError

Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


# ----------------------------------------------------------------------------------------------- deploy


class TagPolicy(_Model):
    """Which pushed tags a target accepts.

    exact: the tag equals `pattern`. glob: shell-style (`release-*`). regex: full match.
    semver: an npm-style range (`^1.2`, `~1.2`, `>=2 <3`); pre-releases only with `prereleases: true`.
    A plain string is shorthand: `"latest"` (exact), `"glob:release-*"`, `"regex:^v\\d+$"`, `"semver:^1.2"`.
    """

    kind: Literal["exact", "glob", "regex", "semver"] = "exact"
    pattern: str = Field(min_length=1)
    prereleases: bool = False

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, str):
            kind, sep, rest = value.partition(":")
            if sep and kind in ("exact", "glob", "regex", "semver"):
                return {"kind": kind, "pattern": rest}
            return {"kind": "exact", "pattern": value}
        return value

    @model_validator(mode="after")
    def _compiles(self) -> TagPolicy:
        if self.kind == "regex":
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"regex {self.pattern!r} does not compile: {exc}") from exc
        if self.kind == "semver":
            import nodesemver

            if nodesemver.make_range(self.pattern, loose=False) is None:  # pragma: no cover - raises instead
                raise ValueError(f"{self.pattern!r} is not a semver range")
        return self


class CircuitBreaker(_Model):
    enable: bool = True
    rollback: bool = True


class DeployTarget(_Model):
    """One repository deployed to one or more services of one cluster."""

    name: Name | None = None
    repository: str = Field(min_length=2, max_length=256, description="ECR repository name, as in the push event")
    registry: str | None = Field(
        None,
        description="Registry host (123456789012.dkr.ecr.eu-west-1.amazonaws.com); default: this account and Region",
    )
    tags: TagPolicy = Field(description="Tag policy: exact, glob, regex or semver range")
    cluster: str = Field(min_length=1)
    services: list[str] = Field(min_length=1)
    containers: list[str] | None = Field(
        None, description="Container names to update; default: every container whose image is from this repository"
    )
    circuit_breaker: CircuitBreaker | None = Field(
        None, description="Turn on the deployment circuit breaker with this setting on each update"
    )
    dry_run: bool = False
    keep_revisions: int | None = Field(None, ge=1, le=1000)

    @property
    def label(self) -> str:
        return self.name or f"{self.repository}→{self.cluster}"


class DeploySection(_Model):
    dry_run: bool = Field(False, description="Plan and report every deploy, change nothing")
    keep_revisions: int = Field(10, ge=1, le=1000, description="Task-definition revisions kept per family")
    targets: list[DeployTarget] = Field(default_factory=list)

    def targets_for(self, repository: str) -> list[DeployTarget]:
        return [t for t in self.targets if t.repository == repository]

    def keep_revisions_for(self, target: str) -> int:
        """Revisions kept after a deploy of `target` (its name or label): its own setting, else the section's."""
        declared = next((t for t in self.targets if target in (t.name, t.label)), None)
        return (declared.keep_revisions if declared and declared.keep_revisions else None) or self.keep_revisions


# ------------------------------------------------------------------------------------------------ watch


class RestartPolicy(_Model):
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


class WatchSection(_Model):
    alert_on_scale_in: bool = False
    alert_on_user_stop: bool = False
    alert_on_clean_exit: bool = False
    crash_loop_window_minutes: int = Field(10, ge=1, le=1440)
    history_days: int = Field(14, ge=1, le=3650)
    restart: RestartPolicy = Field(default_factory=RestartPolicy)


# ------------------------------------------------------------------------------------------------- jobs

_SCHEDULE = re.compile(
    r"^(cron\(.+\)|rate\(\d+ (minute|minutes|hour|hours|day|days)\)|at\(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\))$"
)


class RetryRule(_Model):
    """Like AWS Batch evaluateOnExit: the first rule that matches decides."""

    on_exit_code: str | None = Field(None, description="Exit code or glob (`1`, `13*`)")
    on_reason: str | None = Field(None, description="Glob over the container or task reason")
    action: Literal["retry", "fail"]


class JobRetries(_Model):
    attempts: int = Field(1, ge=1, le=10, description="Total attempts, the first included")
    backoff_seconds: int = Field(60, ge=0, le=86400)
    backoff_multiplier: float = Field(2.0, ge=1.0, le=10.0)
    evaluate_on_exit: list[RetryRule] = Field(default_factory=list, max_length=5)


class NetworkConfig(_Model):
    subnets: list[str] = Field(min_length=1)
    security_groups: list[str] = Field(default_factory=list)
    assign_public_ip: bool = False


class CapacityProviderItem(_Model):
    capacity_provider: str
    weight: int = Field(1, ge=0, le=1000)
    base: int = Field(0, ge=0, le=100000)


class ContainerOverride(_Model):
    name: str
    command: list[str] | None = None
    environment: dict[str, str] = Field(default_factory=dict)
    cpu: int | None = Field(None, ge=0)
    memory: int | None = Field(None, ge=4)


class Job(_Model):
    name: Name
    schedule: str = Field(description="cron(...), rate(...) or at(yyyy-mm-ddThh:mm:ss)")
    timezone: str = "UTC"
    flexible_window_minutes: int | None = Field(None, ge=1, le=1440)
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


# ---------------------------------------------------------------------------------------- notifications

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
]
Severity = Literal["info", "warning", "error"]


class SlackChannel(_Model):
    mode: Literal["webhook", "bot"] = "webhook"
    channel: str | None = Field(None, description="Channel id or name (bot mode)")
    secret_source: Literal["secretsmanager", "ssm"] = "secretsmanager"
    secret_name: str | None = Field(
        None,
        description="Secret / SecureString holding the webhook URL or bot token; default: the stack's own secret",
    )


class Route(_Model):
    kinds: list[Kind] | None = None
    severities: list[Severity] | None = None
    clusters: list[str] | None = None
    services: list[str] | None = None
    jobs: list[str] | None = None
    channels: list[Literal["slack", "sns"]] = Field(min_length=1)


class NotificationsSection(_Model):
    slack: SlackChannel | None = None
    sns: bool = True
    routes: list[Route] = Field(
        default_factory=list, description="First matching route wins; none match → every configured channel"
    )


# ------------------------------------------------------------------------------------------------- root


class DockhandConfig(_Model):
    """Root of dockhand.yaml."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True, title="Dockhand configuration")

    version: Literal[1] = 1
    deploy: DeploySection = Field(default_factory=DeploySection)
    watch: WatchSection = Field(default_factory=WatchSection)
    jobs: list[Job] = Field(default_factory=list)
    notifications: NotificationsSection = Field(default_factory=NotificationsSection)

    @model_validator(mode="after")
    def _unique_names(self) -> DockhandConfig:
        seen: set[str] = set()
        for job in self.jobs:
            if job.name in seen:
                raise ValueError(f"job name {job.name!r} is declared twice")
            seen.add(job.name)
        return self

    def job(self, name: str) -> Job | None:
        return next((j for j in self.jobs if j.name == name), None)


def json_schema() -> dict[str, Any]:
    schema = DockhandConfig.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


def _format_error(source: str, exc: ValidationError) -> str:
    lines = [f"{source}: {exc.error_count()} problem(s)"]
    for err in exc.errors():
        path = ".".join(str(p) for p in err["loc"]) or "(top level)"
        given = err.get("input")
        shown = repr(given) if not isinstance(given, dict) else "{…}"
        if len(shown) > 80:
            shown = shown[:77] + "…"
        lines.append(f"  {source}: {path}: {err['msg']} (given: {shown})")
    return "\n".join(lines)


def parse_config(data: Any, source: str = "dockhand.yaml") -> DockhandConfig:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        return DockhandConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_error(source, exc)) from None


def load_config(path: str | Path) -> DockhandConfig:
    import yaml

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read the file ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError(f"{p}: {where}not valid YAML ({getattr(exc, 'problem', exc)})") from None
    return parse_config(data, str(p))


@lru_cache(maxsize=4)
def cached_config(path: str) -> DockhandConfig:
    """The config a Lambda runs with: read once per container."""
    return load_config(path)
