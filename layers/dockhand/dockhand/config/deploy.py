"""The `deploy` section: which repository goes to which services, by which tag policy."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, model_validator

from dockhand.config.base import FileModel, Name


class TagPolicy(FileModel):
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


class CircuitBreaker(FileModel):
    enable: bool = True
    rollback: bool = True


class DeployTarget(FileModel):
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


class DeploySection(FileModel):
    dry_run: bool = Field(False, description="Plan and report every deploy, change nothing")
    keep_revisions: int = Field(10, ge=1, le=1000, description="Task-definition revisions kept per family")
    targets: list[DeployTarget] = Field(default_factory=list)

    def targets_for(self, repository: str) -> list[DeployTarget]:
        return [t for t in self.targets if t.repository == repository]

    def keep_revisions_for(self, target: str) -> int:
        """Revisions kept after a deploy of `target` (its name or label): its own setting, else the section's."""
        declared = next((t for t in self.targets if target in (t.name, t.label)), None)
        return (declared.keep_revisions if declared and declared.keep_revisions else None) or self.keep_revisions
