"""Job runs: the history of every scheduled, retried or manual run, and what each attempt's task is.

| record     | pk                 | sk          | what                                                   |
|------------|--------------------|-------------|--------------------------------------------------------|
| run        | JOB#<job>          | RUN#<run>   | one run: status, current attempt, task, times, attempts |
| task index | JOBTASK#<task arn> | META        | which run an ECS task belongs to (for its STOPPED event) |

A run is created `pending` (attempt 1) and moves only along `TRANSITIONS`: each step names the statuses it may
leave and the status it reaches, and every write of a step is conditional on exactly that (and on the attempt),
so a duplicate or late event changes nothing. The conditions are derived from the table, never written by hand.

The run's status is state. Whether a flow already did one of its steps (launched the attempt's task, scheduled
its deadline or its retry, stopped it) is a claim step (`dockhand.state.claims`), opened through `claims()`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from dockhand.state.claims import Claims
from dockhand.state.table import Table, now_iso, ttl_after

RunStatus = Literal["pending", "running", "retrying", "succeeded", "failed", "timed_out", "replaced", "skipped"]
FINAL: frozenset[str] = frozenset({"succeeded", "failed", "timed_out", "replaced", "skipped"})
# A run is active until it is final, whatever attempt it is on (a run waiting for its retry is active too).
ACTIVE: frozenset[str] = frozenset({"pending", "running", "retrying"})
Step = Literal[
    "next_attempt",
    "launched",
    "skip",
    "replace",
    "retry_launch",
    "fail_launch",
    "time_out",
    "succeed",
    "retry_exit",
    "fail_exit",
]


@dataclass(frozen=True)
class Transition:
    to: RunStatus
    source: tuple[RunStatus, ...]  # the statuses it may leave
    next_attempt: bool = False  # it moves the run to a later attempt (else: only at the run's current attempt)


# The run's state machine: every status change a run can make, by the step that makes it.
TRANSITIONS: dict[Step, Transition] = {
    # A retry's launch arrives: a run waiting for its retry moves to that attempt (a redelivery finds it there).
    "next_attempt": Transition("pending", ("retrying",), next_attempt=True),
    # RunTask gave a task: the run is running (unless a newer run replaced it meanwhile: then the task is stopped).
    "launched": Transition("running", ("pending",)),
    "skip": Transition("skipped", ("pending",)),  # concurrency Forbid: another run is still active
    # concurrency Replace: a newer run (or attempt) takes over from one launching, running or waiting for its retry
    "replace": Transition("replaced", ("pending", "running", "retrying")),
    "retry_launch": Transition("retrying", ("pending",)),  # RunTask failed, attempts remain
    "fail_launch": Transition("failed", ("pending",)),  # RunTask failed for good
    "time_out": Transition("timed_out", ("running",)),  # the deadline came while it ran (its task is then stopped)
    "succeed": Transition("succeeded", ("running",)),  # the task exited 0 (or a rule says success)
    "retry_exit": Transition("retrying", ("running",)),  # the task failed, attempts remain
    "fail_exit": Transition("failed", ("running",)),  # the task failed for good
}


def condition(step: Step) -> tuple[str, dict[str, Any]]:
    """The ConditionExpression (and its values) of a step's write: the run is at attempt `:a` in a status the
    step may leave. A `next_attempt` step leaves an earlier attempt in such a status, or finds the run already
    moved (at `:a`, in the step's status `:to`)."""
    t = TRANSITIONS[step]
    values: dict[str, Any] = {f":from{i}": status for i, status in enumerate(t.source)}
    leaving = f"#s IN ({', '.join(values)})"
    if t.next_attempt:
        return f"attribute_exists(pk) AND ((attempt < :a AND {leaving}) OR (attempt = :a AND #s = :to))", values
    return f"attempt = :a AND {leaving}", values


class RunRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)

    job: str
    run_id: str
    status: RunStatus = "pending"
    trigger: Literal["schedule", "run_now"] = "schedule"
    attempt: int = 1
    scheduled_time: str | None = None
    created_at: str = ""
    pending_since: str | None = None  # when the current attempt began (it has no task yet while pending)
    cluster: str | None = None
    task_arn: str | None = None
    started_at: str | None = None
    stopped_at: str | None = None
    exit_code: int | None = None
    reason: str | None = None
    attempts: list[dict[str, Any]] = Field(default_factory=list)

    @property
    def outcome(self) -> str:
        return self.status if self.status in FINAL else "-"


class Runs:
    def __init__(self, table: Table) -> None:
        self._t = table

    def claims(self, flow: str) -> Claims:
        """The claims of one run flow (`launch`, `exit`, `deadline`), kept in the same table."""
        return Claims(self._t, f"run-{flow}")

    # --------------------------------------------------------------------------------------------- runs
    def get(self, job: str, run_id: str) -> RunRecord | None:
        item = self._t.get(f"JOB#{job}", f"RUN#{run_id}")
        return RunRecord.model_validate(item) if item else None

    def open_run(self, rec: RunRecord, history_days: int) -> RunRecord:
        """Create the run if it is new, kept for the job's `history_days`; return what is stored (a redelivery
        finds the first one)."""
        created = rec.created_at or now_iso()
        item = {
            "pk": f"JOB#{rec.job}",
            "sk": f"RUN#{rec.run_id}",
            **rec.model_dump(exclude_none=True),
            "created_at": created,
            "pending_since": rec.pending_since or created,
            "expires_at": ttl_after(history_days * 86400),
        }
        if not self._t.put(item, condition="attribute_not_exists(pk)"):
            return self.get(rec.job, rec.run_id) or rec
        return RunRecord.model_validate(item)

    def active(self, job: str, scan: int = 50) -> list[RunRecord]:
        """Runs of the job that hold or may hold a task (newest first, among the last `scan` runs)."""
        items = self._t.query(f"JOB#{job}", "RUN#", newest_first=True, limit=scan)
        return [r for r in (RunRecord.model_validate(i) for i in items) if r.status in ACTIVE]

    def history(self, job: str, limit: int = 20) -> list[RunRecord]:
        items = self._t.query(f"JOB#{job}", "RUN#", newest_first=True, limit=limit)
        return [RunRecord.model_validate(i) for i in items]

    def begin_attempt(self, job: str, run_id: str, attempt: int) -> RunRecord | None:
        """Move a run to `attempt` (pending); None if it is final or already past that attempt."""
        item = self._write(
            job,
            run_id,
            attempt,
            "next_attempt",
            "SET #s = :to, attempt = :a, pending_since = :now REMOVE task_arn, started_at, stopped_at, exit_code",
            {":now": now_iso()},
        )
        return RunRecord.model_validate(item) if item else None

    def started(
        self, job: str, run_id: str, attempt: int, task_arn: str, cluster: str, started_at: str, history_days: int
    ) -> RunRecord | None:
        """The attempt's task exists: index it (its STOPPED event finds the run), then the run is running."""
        self._t.put(
            {
                "pk": f"JOBTASK#{task_arn}",
                "sk": "META",
                "job": job,
                "run_id": run_id,
                "attempt": attempt,
                "expires_at": ttl_after(history_days * 86400),
            }
        )
        item = self._write(
            job,
            run_id,
            attempt,
            "launched",
            "SET #s = :to, task_arn = :t, #c = :c, started_at = :started",
            {":t": task_arn, ":c": cluster, ":started": started_at},
            names={"#c": "cluster"},
        )
        return RunRecord.model_validate(item) if item else None

    def by_task(self, task_arn: str) -> tuple[str, str, int] | None:
        item = self._t.get(f"JOBTASK#{task_arn}", "META")
        if not item:
            return None
        return str(item["job"]), str(item["run_id"]), int(item["attempt"])

    def transition(
        self,
        job: str,
        run_id: str,
        attempt: int,
        step: Step,
        *,
        reason: str | None = None,
        exit_code: int | None = None,
        stopped_at: str | None = None,
    ) -> RunRecord | None:
        """Take `step` at the run's current attempt and append it to the attempts list, once.

        None when the run is not at that attempt or not in a status the step may leave (a duplicate event)."""
        status = TRANSITIONS[step].to
        entry: dict[str, Any] = {"attempt": attempt, "status": status, "at": now_iso()}
        if reason:
            entry["reason"] = reason[:500]
        if exit_code is not None:
            entry["exit_code"] = exit_code
        sets = ["#s = :to", "reason = :r", "attempts = list_append(if_not_exists(attempts, :empty), :entry)"]
        values: dict[str, Any] = {":r": (reason or "")[:500], ":empty": [], ":entry": [entry]}
        if exit_code is not None:
            sets.append("exit_code = :x")
            values[":x"] = exit_code
        if stopped_at or status in FINAL:
            sets.append("stopped_at = if_not_exists(stopped_at, :stop)")
            values[":stop"] = stopped_at or now_iso()
        item = self._write(job, run_id, attempt, step, "SET " + ", ".join(sets), values)
        return RunRecord.model_validate(item) if item else None

    def _write(
        self,
        job: str,
        run_id: str,
        attempt: int,
        step: Step,
        expression: str,
        values: dict[str, Any],
        names: dict[str, str] | None = None,
    ) -> dict[str, Any] | None:
        """One step's UpdateItem, conditional on the step's row of TRANSITIONS; `:to` is its new status."""
        guard, guard_values = condition(step)
        return self._t.update(
            f"JOB#{job}",
            f"RUN#{run_id}",
            expression,
            values={**values, **guard_values, ":to": TRANSITIONS[step].to, ":a": attempt},
            names={"#s": "status", **(names or {})},
            condition=guard,
        )

    def note_stop(self, job: str, run_id: str, task_arn: str, exit_code: int | None, stopped_at: str | None) -> None:
        """Record the stop details of a task whose run already ended (timed out, replaced)."""
        values: dict[str, Any] = {":t": task_arn, ":stop": stopped_at or now_iso()}
        expression = "SET stopped_at = :stop"
        if exit_code is not None:
            expression += ", exit_code = :x"
            values[":x"] = exit_code
        self._t.update(f"JOB#{job}", f"RUN#{run_id}", expression, values=values, condition="task_arn = :t")
