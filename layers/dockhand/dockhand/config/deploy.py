"""The `deploy` section: which repository goes to which services, by which tag policy."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, model_validator

from dockhand.config.accounts import Region
from dockhand.config.base import FileModel, Name
from dockhand.config.promotion import Approval, TrafficGate


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
    tags: TagPolicy | None = Field(
        None, description="Tag policy: exact, glob, regex or semver range (a target promoted from a stage has none)"
    )
    stage: Name | None = Field(None, description="The stage this target belongs to (staging, production …)")
    promote_from: Name | None = Field(
        None, description="Deploy what this stage of the same repository deployed and verified, instead of pushes"
    )
    bake_minutes: int = Field(
        30,
        ge=0,
        le=10080,
        description="After the earlier stage completed: this long with no failure alert, no rollback",
    )
    alarms: list[str] = Field(
        default_factory=list, description="CloudWatch alarms that must be OK when the bake ends (names)"
    )
    approval: Approval | None = Field(None, description="A person approves the promotion into this stage")
    account: Name | None = Field(
        None, description="The declared account (`accounts:`) the services are in; default: Dockhand's own"
    )
    region: Region | None = Field(None, description="The Region the services are in; default: Dockhand's own")
    traffic_gate: TrafficGate | None = Field(
        None, description="Blue/green services: Dockhand's lifecycle hook holds the new revision on test traffic"
    )
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

    @model_validator(mode="after")
    def _pushed_or_promoted(self) -> DeployTarget:
        if (self.tags is None) == (self.promote_from is None):
            raise ValueError("a target has either `tags` (deployed on push) or `promote_from` (promoted), not both")
        if self.promote_from is not None and self.stage is None:
            raise ValueError("promote_from needs `stage`: the name of the stage this target is")
        if self.promote_from is not None and self.promote_from == self.stage:
            raise ValueError(f"promote_from: a stage cannot be promoted from itself ({self.stage!r})")
        if self.traffic_gate is not None and self.stage is None:
            raise ValueError("traffic_gate needs `stage`: approvals and `dockhand status` name the gate by its stage")
        return self

    @property
    def label(self) -> str:
        return self.name or f"{self.repository}→{self.cluster}"

    @property
    def order(self) -> TagPolicy:
        """The policy that orders pushes on this target (what "older" means): its own, or push time."""
        return self.tags or TagPolicy(kind="glob", pattern="*")


class DeploySection(FileModel):
    dry_run: bool = Field(False, description="Plan and report every deploy, change nothing")
    keep_revisions: int = Field(10, ge=1, le=1000, description="Task-definition revisions kept per family")
    targets: list[DeployTarget] = Field(default_factory=list)

    @model_validator(mode="after")
    def _stages_connect(self) -> DeploySection:
        for i, t in enumerate(self.targets):
            if t.promote_from is None:
                continue
            field = f"deploy.targets.{i}.promote_from"
            stages = sorted({s.stage for s in self.targets if s.repository == t.repository and s.stage})
            if t.promote_from not in stages:
                raise ValueError(
                    f"{field}: {t.promote_from!r} is no stage of repository {t.repository!r} (stages: {stages})"
                )
            for other in self.stage_targets(t.repository, t.stage or ""):
                if other.promote_from != t.promote_from:
                    raise ValueError(
                        f"{field}: the targets of stage {t.stage!r} of {t.repository!r} must all be promoted from "
                        f"the same stage (one names {other.promote_from!r})"
                    )
            seen: set[str | None] = {t.stage}
            stage: str | None = t.promote_from
            while stage is not None:
                if stage in seen:
                    raise ValueError(f"{field}: the stages of {t.repository!r} go round in a circle through {stage!r}")
                seen.add(stage)
                stage = next((s.promote_from for s in self.stage_targets(t.repository, stage)), None)
        return self

    @model_validator(mode="after")
    def _one_approval_per_stage(self) -> DeploySection:
        for i, t in enumerate(self.targets):
            held = t.traffic_gate is not None and t.traffic_gate.approval is not None
            if held and any(o.approval for o in self.stage_targets(t.repository, t.stage or "")):
                raise ValueError(
                    f"deploy.targets.{i}.traffic_gate.approval: stage {t.stage!r} of {t.repository!r} asks an "
                    "approval before the deploy already (`approval`): declare it in one place"
                )
        return self

    def targets_for(self, repository: str) -> list[DeployTarget]:
        """The targets a push of `repository` goes to (by tag policy); promoted targets take no pushes."""
        return [t for t in self.targets if t.repository == repository and t.tags is not None]

    def stage_targets(self, repository: str, stage: str) -> list[DeployTarget]:
        return [t for t in self.targets if t.repository == repository and t.stage == stage]

    def next_stages(self, repository: str, stage: str) -> list[str]:
        """The stages promoted from `stage`, in the file's order."""
        found = [t.stage for t in self.targets if t.repository == repository and t.promote_from == stage and t.stage]
        return list(dict.fromkeys(found))

    def gated_targets(self, cluster: str, service: str) -> list[DeployTarget]:
        """The targets with a traffic gate that name `service` of `cluster` (a name or an ARN)."""
        return [
            t
            for t in self.targets
            if t.traffic_gate is not None and service in t.services and t.cluster.rsplit("/", 1)[-1] == cluster
        ]

    def stages(self, repository: str) -> list[str]:
        return list(dict.fromkeys(t.stage for t in self.targets if t.repository == repository and t.stage))

    def target(self, label: str) -> DeployTarget | None:
        return next((t for t in self.targets if label in (t.name, t.label)), None)

    def keep_revisions_for(self, target: str) -> int:
        """Revisions kept after a deploy of `target` (its name or label): its own setting, else the section's."""
        declared = next((t for t in self.targets if target in (t.name, t.label)), None)
        return (declared.keep_revisions if declared and declared.keep_revisions else None) or self.keep_revisions
