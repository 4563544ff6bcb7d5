"""EventBridge Scheduler, which moto stores but never fires: schedules fire here, on the local clock.

Due times come from the layer's own `fire_times` (cron, rate and at, in the schedule's time zone) and the body
sent is the schedule's Input rendered by the layer's `render_input`, as Scheduler fills it in. Recurring
schedules never backfill: they fire for the times after the clock started (or after they were created);
a one-time `at()` schedule whose time has passed fires once and, with ActionAfterCompletion DELETE, is deleted.
"""

from __future__ import annotations

import threading
import uuid
from contextlib import suppress
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from dockhand.batch.schedules import render_input
from dockhand.schedule_expressions import fire_times, next_fire
from dockhand_local.clock import iso
from dockhand_local.stack import ACCOUNT

if TYPE_CHECKING:
    from dockhand_local.runtime import Runtime

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
POLL = 0.25  # wall seconds between looks at the schedules


class ScheduleFirer:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self._started = runtime.clock.now()  # schedules that exist now fire for the times after this
        self._since: dict[str, datetime] = {}  # schedule ARN -> end of the window already fired
        self._next: dict[str, tuple[str, str, datetime | None]] = {}  # ARN -> (expression, zone, next due)
        self._fired_once: set[str] = set()
        self._first_pass = True
        self._lock = threading.Lock()

    def run(self) -> None:
        """The scheduler thread."""
        while not self.rt.stopping.wait(POLL):
            try:
                self.fire_due()
            except Exception as exc:
                self.rt.errors.append(f"scheduler: {type(exc).__name__}: {exc}")

    def fire_due(self) -> int:
        """Send the Input of every schedule due on the local clock to its target queue; return how many fired."""
        from moto.scheduler.models import scheduler_backends

        with self._lock:
            backend = scheduler_backends[ACCOUNT][self.rt.region]
            now = self.rt.clock.now()
            fired = 0
            for group in list(backend.schedule_groups.values()):
                for schedule in list(group.schedules.values()):
                    if schedule.state != "ENABLED":
                        continue
                    for due in self._due_times(schedule, now):
                        self._deliver(schedule, due)
                        fired += 1
                    if schedule.arn in self._fired_once and schedule.action_after_completion == "DELETE":
                        with suppress(Exception):
                            backend.delete_schedule(group.name, schedule.name)
            self._first_pass = False
            return fired

    def due_now(self) -> int:
        """How many enabled schedules the next look will fire (without firing them)."""
        from moto.scheduler.models import scheduler_backends

        with self._lock:
            now = self.rt.clock.now()
            due = 0
            for group in list(scheduler_backends[ACCOUNT][self.rt.region].schedule_groups.values()):
                for schedule in list(group.schedules.values()):
                    if schedule.state != "ENABLED":
                        continue
                    expression, zone = schedule.schedule_expression, schedule.schedule_expression_timezone
                    if expression.startswith("at("):
                        due += schedule.arn not in self._fired_once and bool(fire_times(expression, zone, EPOCH, now))
                    elif schedule.arn in self._since:
                        upcoming = next_fire(expression, zone, self._since[schedule.arn])
                        due += upcoming is not None and upcoming <= now
            return due

    def _due_times(self, schedule: Any, now: datetime) -> list[datetime]:
        arn, expression, zone = schedule.arn, schedule.schedule_expression, schedule.schedule_expression_timezone
        if expression.startswith("at("):
            if arn in self._fired_once:
                return []
            times = fire_times(expression, zone, EPOCH, now)
            if times:
                self._fired_once.add(arn)
            return times
        since = self._since.setdefault(arn, self._window_start(schedule))
        cached = self._next.get(arn)
        if cached is None or cached[:2] != (expression, zone):
            cached = (expression, zone, next_fire(expression, zone, since))
            self._next[arn] = cached
        if cached[2] is None or cached[2] > now:
            return []
        self._since[arn] = now
        self._next[arn] = (expression, zone, next_fire(expression, zone, now))
        return fire_times(expression, zone, since, now)

    def _window_start(self, schedule: Any) -> datetime:
        """When a recurring schedule starts firing: the clock's start for those made with the stack, else its
        creation (on the local clock)."""
        if self._first_pass:
            return self._started
        return max(self._started, datetime.fromtimestamp(float(schedule.creation_date), UTC))

    def _deliver(self, schedule: Any, due: datetime) -> None:
        target = schedule.target
        body = render_input(str(target.get("Input") or "{}"), due, str(uuid.uuid4()))
        queue_name = str(target["Arn"]).rsplit(":", 1)[-1]
        sqs = self.rt.client("sqs")
        url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
        kwargs: dict[str, Any] = {}
        if queue_name.endswith(".fifo"):
            kwargs["MessageGroupId"] = (target.get("SqsParameters") or {}).get("MessageGroupId", "schedule")
        sqs.send_message(QueueUrl=url, MessageBody=body, **kwargs)
        self.rt.note("scheduler", f"schedule {schedule.name} fired for {iso(due)}", schedule=schedule.name)
