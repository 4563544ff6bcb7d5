"""A world for fault injection: the stack in moto, the real handlers, the loopback Slack, and a pump that plays
SQS → Lambda, Scheduler and ECS the way AWS does, on a clock that only moves when the world waits.

Every AWS call a handler makes passes a botocore `before-call` hook (installed for every session, as moto installs
its own): the hook records the call and, when a `FaultPlan` says so, answers it with a ThrottlingException or an
HTTP 500 instead of sending it. Calls made by the world itself (setting up, reading state, playing ECS) are never
faulted: the hook is live only while a handler runs.

What the handlers did to the outside world — the side effects a user can see — is counted from the calls that
succeeded (ECS mutations, SNS publishes, Scheduler changes) and from the loopback Slack's messages, so a run with a
fault can be compared with the same run without one.
"""

from __future__ import annotations

import json
import os
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import yaml

REGION = "us-east-1"
ACCOUNT = "123456789012"
START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)

# The calls whose success a user can see (or that launch, change or stop something that costs money).
VISIBLE = frozenset(
    {
        ("ECS", "RegisterTaskDefinition"),
        ("ECS", "DeregisterTaskDefinition"),
        ("ECS", "UpdateService"),
        ("ECS", "RunTask"),
        ("ECS", "StopTask"),
        ("SNS", "Publish"),
        ("Scheduler", "CreateSchedule"),
        ("Scheduler", "DeleteSchedule"),
    }
)
FUNCTIONS = {"DeployerFunction": "DeployQueue", "WatcherFunction": "WatchQueue", "BatchFunction": "BatchQueue"}
DLQS = ("DeployDLQ", "WatchDLQ", "BatchDLQ")


# ------------------------------------------------------------------------------------------------ faults


@dataclass
class FaultPlan:
    """Which handler calls fail: the call at position `at` (0-based, in the order handlers make them), or every
    call of one operation while `persistent` is set. `kind` is `throttle` (HTTP 400 ThrottlingException) or
    `5xx` (HTTP 500 InternalFailure)."""

    at: int | None = None
    operation: tuple[str, str] | None = None
    kind: str = "throttle"
    persistent: bool = False
    fired: int = 0

    def fails(self, index: int, call: tuple[str, str]) -> bool:
        if self.persistent:
            return call == self.operation
        return self.at == index and (self.operation is None or self.operation == call)


@dataclass
class Recorder:
    """What the handlers called, in order, what failed on purpose, and which visible effects succeeded."""

    live: bool = False
    plan: FaultPlan | None = None
    calls: list[tuple[str, str]] = field(default_factory=list)
    effects: Counter[str] = field(default_factory=Counter)
    delayed: list[datetime] = field(default_factory=list)  # when the delayed messages handlers sent come due

    def forget(self) -> None:
        """Start counting afresh (after a setup phase that ran handlers)."""
        self.calls.clear()
        self.effects.clear()

    def before_parameter_build(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["dockhand_params"] = dict(params)  # the API parameters, for after_call

    def before_call(self, model: Any, context: dict[str, Any], **_: Any) -> Any:
        if not self.live:
            return None
        call = (_service_name(model), model.name)
        index = len(self.calls)
        self.calls.append(call)
        if self.plan is not None and self.plan.fails(index, call):
            self.plan.fired += 1
            context["dockhand_fault"] = True
            return _fault_response(self.plan.kind, model.name)
        return None

    def after_call(self, http_response: Any, model: Any, context: dict[str, Any], **_: Any) -> None:
        if not self.live or context.get("dockhand_fault") or http_response.status_code >= 300:
            return
        call = (_service_name(model), model.name)
        if call in VISIBLE:
            self.effects[f"{call[0]}:{call[1]}"] += 1
        delay = (context.get("dockhand_params") or {}).get("DelaySeconds")
        if call == ("SQS", "SendMessage") and delay:
            self.delayed.append(_now() + timedelta(seconds=int(delay)))


def _service_name(model: Any) -> str:
    return {"ecs": "ECS", "sns": "SNS", "scheduler": "Scheduler"}.get(
        model.service_model.endpoint_prefix, model.service_model.service_id.replace(" ", "")
    )


def _fault_response(kind: str, operation: str) -> tuple[Any, dict[str, Any]]:
    from botocore.awsrequest import AWSResponse

    status, code = (400, "ThrottlingException") if kind == "throttle" else (500, "InternalFailure")
    parsed = {
        "Error": {"Code": code, "Message": f"injected {code} on {operation}"},
        "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": {}, "RetryAttempts": 0},
    }
    return AWSResponse("https://fault.invalid/", status, {}, None), parsed


@contextmanager
def recording() -> Iterator[Recorder]:
    """Install the recorder's hooks on every botocore session created from now on (moto does the same)."""
    import botocore.handlers

    recorder = Recorder()
    hooks = [
        ("before-parameter-build", recorder.before_parameter_build),
        ("before-call", recorder.before_call),
        ("after-call", recorder.after_call),
    ]
    botocore.handlers.BUILTIN_HANDLERS.extend(hooks)
    boto3.DEFAULT_SESSION = None  # the next boto3.client/resource builds a session that has the hooks
    try:
        yield recorder
    finally:
        for hook in hooks:
            botocore.handlers.BUILTIN_HANDLERS.remove(hook)
        boto3.DEFAULT_SESSION = None


# ------------------------------------------------------------------------------------------------- world


@dataclass
class JobScript:
    """How long a job task runs (world seconds) and how it exits; None exit code: it never exits by itself."""

    exit_code: int | None
    seconds: int = 60


class World:
    """The stack and the loopback Slack, a clock, and the pump. Build one per run (a fresh moto)."""

    def __init__(self, stack: Any, slack: Any, recorder: Recorder, clock: Any, tmp: Path) -> None:
        self.stack = stack
        self.slack = slack
        self.recorder = recorder
        self.clock = clock  # time_machine traveller (tick=False): time moves only when the world waits
        self.tmp = tmp
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.ecs = boto3.client("ecs", region_name=REGION)
        self.scheduler = boto3.client("scheduler", region_name=REGION)
        self.config_path = tmp / "dockhand.yaml"
        self.job_scripts: list[JobScript] = []
        self.job_tasks: dict[str, datetime | None] = {}  # task arn -> when it stops by itself (None: never)
        self._exit_codes: dict[str, int | None] = {}
        self.receives = 0
        self.slack_mark = 0
        self.invocations = 0
        sns_inbox = self.sqs.create_queue(QueueName="world-sns")["QueueUrl"]
        self._sns_inbox = sns_inbox
        arn = self.sqs.get_queue_attributes(QueueUrl=sns_inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        boto3.client("sns", region_name=REGION).subscribe(
            TopicArn=stack.topic_arn, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"}
        )
        self.sns: list[dict[str, Any]] = []

    # ----------------------------------------------------------------------------------------- declaring
    def declare(self, config: dict[str, Any], slack_mode: str = "bot") -> None:
        """Write the declarations; Slack's credential (loopback) goes into the stack's secret."""
        creds = (
            {"bot_token": "xoxb-world", "api_url": self.slack.api_url}
            if slack_mode == "bot"
            else {"webhook_url": self.slack.webhook_url}
        )
        boto3.client("secretsmanager", region_name=REGION).put_secret_value(
            SecretId=self.stack.physical["SlackSecret"], SecretString=json.dumps(creds)
        )
        notifications = {"sns": True, "slack": {"mode": slack_mode, "channel": "C0WORLD"}}
        self.config_path.write_text(yaml.safe_dump({"version": 1, "notifications": notifications, **config}))

    def sync_schedules(self) -> None:
        from dockhand.batch import schedules
        from dockhand.config import load_config

        schedules.sync_schedules(
            load_config(self.config_path),
            self.scheduler,
            group=self.stack.physical["ScheduleGroup"],
            target_arn=self.stack.arns["BatchQueue"],
            role_arn=self.stack.arns["SchedulerRole"],
            dlq_arn=self.stack.arns["BatchDLQ"],
        )

    # ------------------------------------------------------------------------------------------- sending
    def send(self, queue: str, body: dict[str, Any]) -> None:
        """Put a message on a function's queue as EventBridge or Scheduler would."""
        kwargs: dict[str, Any] = {"QueueUrl": self.stack.queue_url(queue), "MessageBody": json.dumps(body)}
        if kwargs["QueueUrl"].endswith(".fifo"):
            kwargs["MessageGroupId"] = "ecr-push"
        self.sqs.send_message(**kwargs)

    # ---------------------------------------------------------------------------------------- invoking
    def invoke(self, function: str, event: dict[str, Any]) -> dict[str, Any]:
        """Call the function's real handler with its template environment, as a fresh Lambda container would."""
        from aws_lambda_powertools.utilities import parameters

        from dockhand import deps
        from dockhand_local.lambda_context import LambdaContext

        env = self.stack.env_for(function)
        env["DOCKHAND_CONFIG"] = str(self.config_path)
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        deps.reset()
        parameters.clear_caches()
        module = {
            "DeployerFunction": "functions.deployer.app",
            "WatcherFunction": "functions.watcher.app",
            "BatchFunction": "functions.batch.app",
        }[function]
        import importlib

        app = importlib.import_module(module)
        if hasattr(app, "_TASKDEFS"):
            app._TASKDEFS.clear()
        self.recorder.live = True
        self.invocations += 1
        try:
            return app.lambda_handler(event, LambdaContext(function_name=f"dockhand-{function}"))
        finally:
            self.recorder.live = False
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
            deps.reset()

    # ------------------------------------------------------------------------------------------- pumping
    def pump_once(self) -> bool:
        """Hand each function the messages visible on its queue (one batch); False when there were none."""
        moved = False
        for function, queue in FUNCTIONS.items():
            url = self.stack.queue_url(queue)
            msgs = self.sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"], MessageAttributeNames=["All"]
            ).get("Messages", [])
            if not msgs:
                continue
            moved = True
            self.receives += 1
            records = [_record(m, self.stack.arns[queue]) for m in msgs]
            response = self.invoke(function, {"Records": records})
            failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
            for m in msgs:
                if m["MessageId"] in failed:  # back on the queue at once
                    self.sqs.change_message_visibility(
                        QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0
                    )
                else:
                    self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            if failed:  # the visibility timeout passes (a second: the clock stands still otherwise)
                self.clock.shift(1)
        return moved

    def settle(self, horizon: timedelta = timedelta(hours=6)) -> None:
        """Run until nothing is left to do: deliver; when idle, move the clock to the next thing that comes due
        (a delayed message, a one-time schedule, a job task's end)."""
        until = _now() + horizon
        while True:
            if self.pump_once() or self.fire_due_schedules() or self.stop_finished_jobs():
                continue
            due = self.next_due()
            if due is None:
                return
            if due > until:
                raise AssertionError(f"the world did not settle within {horizon}")
            self.clock.move_to(max(due, _now()) + timedelta(seconds=1))

    def next_due(self) -> datetime | None:
        """When something will happen if time passes, or None when nothing will."""
        from dockhand.schedule_expressions import fire_times

        now = _now()
        times = [t for t in self.recorder.delayed if t > now]
        self.recorder.delayed = times
        for schedule in self._one_time_schedules():
            times += list(
                fire_times(
                    schedule["ScheduleExpression"],
                    schedule.get("ScheduleExpressionTimezone"),
                    now,
                    now + timedelta(days=2),
                )
            )[:1]
        self.stop_finished_jobs()  # notes new job tasks and when they end
        times += [t for t in self.job_tasks.values() if t is not None and t > now]
        return min(times) if times else None

    # ----------------------------------------------------------------------------------------- Scheduler
    def _one_time_schedules(self) -> list[dict[str, Any]]:
        group = self.stack.physical["ScheduleGroup"]
        out = []
        for s in self.scheduler.list_schedules(GroupName=group).get("Schedules", []):
            full = self.scheduler.get_schedule(Name=s["Name"], GroupName=group)
            if str(full.get("ScheduleExpression", "")).startswith("at("):
                out.append(full)
        return out

    def fire_due_schedules(self) -> bool:
        """One-time schedules whose time has come send their input and, with ActionAfterCompletion DELETE, go."""
        from dockhand.schedule_expressions import fire_times

        fired = False
        now = _now()
        for schedule in self._one_time_schedules():
            due = list(
                fire_times(
                    schedule["ScheduleExpression"],
                    schedule.get("ScheduleExpressionTimezone"),
                    now - timedelta(days=2),
                    now,
                )
            )
            if not due:
                continue
            self.sqs.send_message(QueueUrl=self.stack.queue_url("BatchQueue"), MessageBody=schedule["Target"]["Input"])
            if schedule.get("ActionAfterCompletion") == "DELETE":
                self.scheduler.delete_schedule(Name=schedule["Name"], GroupName=self.stack.physical["ScheduleGroup"])
            fired = True
        return fired

    def fire_job(self, name: str, scheduled: datetime) -> None:
        """The job's recurring schedule fires: its Target.Input with the context filled in, as Scheduler does."""
        from dockhand.batch import schedules

        target = self.scheduler.get_schedule(Name=name, GroupName=self.stack.physical["ScheduleGroup"])["Target"]
        body = schedules.render_input(target["Input"], scheduled, str(uuid.uuid4()))
        self.sqs.send_message(QueueUrl=self.stack.queue_url("BatchQueue"), MessageBody=body)

    # ----------------------------------------------------------------------------------------- job tasks
    def _running_job_tasks(self) -> list[dict[str, Any]]:
        tasks = []
        for cluster in self.ecs.list_clusters()["clusterArns"]:
            arns = self.ecs.list_tasks(cluster=cluster, desiredStatus="RUNNING")["taskArns"]
            if arns:
                found = self.ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"]
                tasks += [t for t in found if str(t.get("startedBy", "")).startswith("dockhand-job/")]
        return tasks

    def stop_finished_jobs(self) -> bool:
        """Job tasks run for their script's time, then stop with its exit code (ECS emits their STOPPED event)."""
        stopped = False
        for task in self._running_job_tasks():
            arn = task["taskArn"]
            if arn not in self.job_tasks:
                script = self.job_scripts.pop(0) if self.job_scripts else JobScript(0)
                ends = _now() + timedelta(seconds=script.seconds) if script.exit_code is not None else None
                self.job_tasks[arn] = ends
                self._exit_codes[arn] = script.exit_code
            ends = self.job_tasks[arn]
            if ends is None or _now() < ends:
                continue
            self.stop_job_task(task, self._exit_codes[arn], "Essential container in task exited")
            stopped = True
        return stopped

    def stop_job_task(self, task: dict[str, Any], exit_code: int | None, reason: str) -> None:
        from tests.support.events import job_task_stopped

        self.ecs.stop_task(cluster=task["clusterArn"], task=task["taskArn"], reason=reason)
        event = job_task_stopped(task, exit_code, reason, stop_code="EssentialContainerExited")
        event["id"] = str(uuid.uuid4())
        event["detail"]["stoppedAt"] = _now().isoformat()
        self.send("BatchQueue", event)

    # ------------------------------------------------------------------------------------------- reading
    def dead_letters(self) -> dict[str, list[dict[str, Any]]]:
        """Messages waiting in each DLQ (read without consuming: they stay for a redrive)."""
        out: dict[str, list[dict[str, Any]]] = {}
        for dlq in DLQS:
            attrs = self.sqs.get_queue_attributes(QueueUrl=self.stack.queue_url(dlq), AttributeNames=["All"])
            n = int(attrs["Attributes"].get("ApproximateNumberOfMessages", 0))
            n += int(attrs["Attributes"].get("ApproximateNumberOfMessagesNotVisible", 0))
            if n:
                out[dlq] = [{"count": n}]
        return out

    def redrive(self) -> int:
        """Move every DLQ's messages back to their source queue (what a person does once the fault is gone).

        A message reaches a DLQ only after `maxReceiveCount` receives, each one visibility timeout after the last;
        the pump makes a failed message visible again at once, so that time passes here, before the redrive (the
        world is idle by now: nothing else comes due in it). Leases of the deliveries that gave up have run out
        by then, as they have on AWS."""
        moved = 0
        dead = self.dead_letters()
        parked = [(dlq, source) for dlq, source in self._redrives() if dlq in dead]
        if parked:
            self.clock.shift(max(self._time_to_park(source) for _, source in parked))
        for dlq, source in parked:
            url = self.stack.queue_url(dlq)
            while True:
                msgs = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0).get(
                    "Messages", []
                )
                if not msgs:
                    break
                for m in msgs:
                    self.send(source, json.loads(m["Body"]))
                    self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
                    moved += 1
        return moved

    @staticmethod
    def _redrives() -> tuple[tuple[str, str], ...]:
        return (("DeployDLQ", "DeployQueue"), ("WatchDLQ", "WatchQueue"), ("BatchDLQ", "BatchQueue"))

    def _time_to_park(self, queue: str) -> timedelta:
        """How long SQS takes, at the least, to move a message that keeps failing to the queue's DLQ."""
        attrs = self.sqs.get_queue_attributes(QueueUrl=self.stack.queue_url(queue), AttributeNames=["All"])
        attributes = attrs["Attributes"]
        receives = int(json.loads(attributes["RedrivePolicy"])["maxReceiveCount"])
        return timedelta(seconds=receives * int(attributes["VisibilityTimeout"]))

    def forget(self) -> None:
        """Count from here on: what a setup phase did is not the flow's."""
        self.recorder.forget()
        self.slack_mark = len(self.slack.messages)

    def slack_effects(self) -> Counter[str]:
        messages = self.slack.messages[self.slack_mark :]
        return Counter(f"Slack:{m['kind']}" + (":thread" if m.get("thread_ts") else "") for m in messages)

    def effects(self) -> Counter[str]:
        return self.recorder.effects + self.slack_effects()


def _now() -> datetime:
    return datetime.now(UTC)


def _record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": message.get("MessageAttributes", {}),
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }


Scenario = Callable[[World], Callable[[World], None]]
