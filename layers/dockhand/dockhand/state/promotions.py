"""Promotions: a digest's walk from one stage to the next, and what runs in each stage.

One partition per repository (`PROMOTION#<repository>`), so `dockhand status` reads a repository's walk in one
Query:

| sk                      | what                                                                        |
|-------------------------|-----------------------------------------------------------------------------|
| `TO#<stage>#<digest>`   | the promotion of a digest into a stage: its status, since when, waiting on what |
| `RAN#<stage>#<digest>`  | the digest completed a deployment in the stage (a promotion from it may start) |
| `AT#<stage>`            | the digest the stage completed last, and since when                          |
| `GATE#<stage>#<digest>` | a traffic gate the deployment lifecycle hook holds (`TrafficGates`): same shape |

A promotion's status only moves forward, by conditional writes (`move`): baking → awaiting_approval → approved →
deploying → deployed, or it ends stopped (a failed verification), rejected, expired or superseded (a newer digest).
A traffic gate moves baking → awaiting_approval → approved → passed, or ends failed, rejected or expired.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from dockhand.state.table import Table, now_iso, ttl_after

Status = Literal[
    "baking",
    "awaiting_approval",
    "approved",
    "deploying",
    "deployed",
    "stopped",
    "rejected",
    "expired",
    "superseded",
    "passed",
    "failed",
]
PENDING: tuple[Status, ...] = ("baking", "awaiting_approval")
_TTL = 180 * 86400


class PromotionRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)

    repository: str
    digest: str
    tag: str = ""
    pushed_at: str = ""  # the push's own time: what orders it on the next stage's ledger
    account: str = ""
    region: str = ""
    from_stage: str
    stage: str
    status: Status = "baking"
    since: str = ""
    started_at: str = ""
    bake_until: int = 0  # epoch seconds
    waiting_on: str = ""
    reason: str = ""
    approval_expires: int = 0  # epoch seconds
    decided_by: str = ""

    @property
    def key(self) -> str:
        """Names the promotion in claims, messages and Slack buttons."""
        return f"{self.repository}@{self.digest}>{self.stage}"

    @staticmethod
    def split_key(key: str) -> tuple[str, str, str]:
        """(repository, digest, stage) of a `key`."""
        repository, _, rest = key.partition("@")
        digest, _, stage = rest.partition(">")
        return repository, digest, stage

    @classmethod
    def of_run(cls, run: StageRun, stage: str, started: int, bake_until: int, waiting_on: str = "") -> PromotionRecord:
        """The promotion into `stage` of what the earlier stage `run` ran, begun at `started` (epoch seconds)."""
        return cls(
            **run.model_dump(include={"repository", "digest", "tag", "pushed_at", "account", "region"}),
            from_stage=run.stage,
            stage=stage,
            bake_until=bake_until,
            waiting_on=waiting_on,
            started_at=datetime.fromtimestamp(started, UTC).isoformat(timespec="seconds"),
        )

    @property
    def pending(self) -> bool:
        return self.status in PENDING


class StageRun(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)

    repository: str
    stage: str
    digest: str
    tag: str = ""
    since: str = ""
    pushed_at: str = ""  # what a promotion of the digest from this stage carries to the next
    account: str = ""
    region: str = ""


class Promotions:
    _prefix = "TO"

    def __init__(self, table: Table) -> None:
        self._t = table

    def _sk(self, stage: str, digest: str = "") -> str:
        return f"{self._prefix}#{stage}#{digest}"

    @staticmethod
    def _pk(repository: str) -> str:
        return f"PROMOTION#{repository}"

    def get(self, repository: str, stage: str, digest: str) -> PromotionRecord | None:
        item = self._t.get(self._pk(repository), self._sk(stage, digest))
        return PromotionRecord.model_validate(item) if item else None

    def begin(self, rec: PromotionRecord) -> bool:
        """Write a new promotion; False when this digest's promotion into this stage exists already."""
        now = now_iso()
        data = rec.model_dump() | {"since": rec.since or now, "started_at": rec.started_at or now}
        item = {"pk": self._pk(rec.repository), "sk": self._sk(rec.stage, rec.digest), **data}
        return self._t.put(item | {"expires_at": ttl_after(_TTL)}, condition="attribute_not_exists(pk)")

    def move(
        self, rec: PromotionRecord, to: Status, from_: tuple[Status, ...], **fields: Any
    ) -> PromotionRecord | None:
        """Move the promotion to `to` if it is in one of `from_` now (with `fields`); None when it is not."""
        values: dict[str, Any] = {":to": to, ":since": now_iso()}
        names = {"#st": "status"}
        sets = ["#st = :to", "since = :since"]
        for i, (name, value) in enumerate(fields.items()):
            names[f"#f{i}"], values[f":f{i}"] = name, value
            sets.append(f"#f{i} = :f{i}")
        allowed = []
        for i, status in enumerate(from_):
            values[f":from{i}"] = status
            allowed.append(f":from{i}")
        item = self._t.update(
            self._pk(rec.repository),
            self._sk(rec.stage, rec.digest),
            "SET " + ", ".join(sets),
            values=values,
            names=names,
            condition=f"#st IN ({', '.join(allowed)})",
        )
        return PromotionRecord.model_validate(item) if item else None

    def into(self, repository: str, stage: str) -> list[PromotionRecord]:
        """Every promotion of the repository into `stage`."""
        items = self._t.query(self._pk(repository), sk_prefix=self._sk(stage))
        return [PromotionRecord.model_validate(i) for i in items]

    def ran(self, run: StageRun) -> None:
        """The digest completed a deployment in its stage: it is what the stage runs now."""
        pk, stage, digest = self._pk(run.repository), run.stage, run.digest
        run = run.model_copy(update={"since": run.since or now_iso()})
        self._t.put({"pk": pk, "sk": f"RAN#{stage}#{digest}", **run.model_dump(), "expires_at": ttl_after(_TTL)})
        self._t.put({"pk": pk, "sk": f"AT#{stage}", **run.model_dump()})

    def run_of(self, repository: str, stage: str, digest: str) -> StageRun | None:
        """The completed deployment of `digest` in `stage`, if there was one."""
        item = self._t.get(self._pk(repository), f"RAN#{stage}#{digest}")
        return StageRun.model_validate(item) if item else None

    def walk(self, repository: str) -> tuple[list[StageRun], list[PromotionRecord]]:
        """What each stage runs, and every promotion of the repository (for `dockhand status`)."""
        items = self._t.query(self._pk(repository))
        runs = [StageRun.model_validate(i) for i in items if str(i["sk"]).startswith("AT#")]
        promotions = [PromotionRecord.model_validate(i) for i in items if str(i["sk"]).startswith("TO#")]
        return runs, promotions


class TrafficGates(Promotions):
    """The gates the deployment lifecycle hook holds on a blue/green stage: one per (repository, stage, digest),
    whatever number of services and calls; the same record shape and conditional moves as a promotion."""

    _prefix = "GATE"

    def held(self, repository: str) -> list[PromotionRecord]:
        """Every traffic gate of the repository (for `dockhand status`)."""
        items = self._t.query(self._pk(repository), sk_prefix=f"{self._prefix}#")
        return [PromotionRecord.model_validate(i) for i in items]
