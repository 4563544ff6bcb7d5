"""The user's declaration file (dockhand.yaml) as pydantic models.

Every wing reads its own section: `deploy`, `watch`, `jobs`, `notifications`. The JSON Schema in
schema/dockhand.schema.json is generated from these models (`dockhand schema`), never written by hand.
Loading errors name the file, the path to the field, the value given and what was expected.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict, Field, ValidationError, model_validator

from dockhand.config.accounts import Account
from dockhand.config.base import FileModel, Name
from dockhand.config.deploy import CircuitBreaker, DeploySection, DeployTarget, TagPolicy
from dockhand.config.jobs import (
    CapacityProviderItem,
    ContainerOverride,
    Job,
    JobRetries,
    NetworkConfig,
    RetryRule,
)
from dockhand.config.notifications import Kind, NotificationsSection, Route, Severity, SlackChannel
from dockhand.config.promotion import Approval, TrafficGate
from dockhand.config.watch import RestartPolicy, WatchSection
from dockhand.errors import ConfigError

__all__ = [
    "Account",
    "Approval",
    "CapacityProviderItem",
    "CircuitBreaker",
    "ContainerOverride",
    "DeploySection",
    "DeployTarget",
    "DockhandConfig",
    "FileModel",
    "Job",
    "JobRetries",
    "Kind",
    "Name",
    "NetworkConfig",
    "NotificationsSection",
    "RestartPolicy",
    "RetryRule",
    "Route",
    "Severity",
    "SlackChannel",
    "TagPolicy",
    "TrafficGate",
    "WatchSection",
    "cached_config",
    "json_schema",
    "load_config",
    "parse_config",
]


class DockhandConfig(FileModel):
    """Root of dockhand.yaml."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True, title="Dockhand configuration")

    version: Literal[1] = 1
    accounts: dict[Name, Account] = Field(
        default_factory=dict, description="Other accounts Dockhand works in, by name, each with the role it assumes"
    )
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
        places = [(f"deploy.targets.{i}", t.account) for i, t in enumerate(self.deploy.targets)]
        places += [(f"jobs.{i}", j.account) for i, j in enumerate(self.jobs)]
        for field, name in places:
            if name is not None and name not in self.accounts:
                raise ValueError(f"{field}.account: {name!r} is not declared in `accounts` ({sorted(self.accounts)})")
        return self

    def account_by_id(self, account_id: str) -> Account | None:
        """The declared account with this 12-digit id (an event's `account`); None for Dockhand's own."""
        return next((a for a in self.accounts.values() if a.id == account_id), None)

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
    """The config a Lambda runs with, read once per container: the validated form the config layer ships beside the
    file when it matches the file and these models (config.validated), else the file, parsed and validated."""
    from dockhand.config.validated import read

    return read(path) or load_config(path)
