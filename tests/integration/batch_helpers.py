"""The world the batch tests run in: the stack in moto, a VPC, a cluster, job task definitions, the job schedules
synced from the declarations, and ways to do what AWS would do but moto does not (fire a schedule, emit a
task's STOPPED event)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3

from dockhand import deps
from dockhand.batch import schedules
from dockhand.config import load_config
from dockhand.state.runs import RunRecord, Runs
from tests.support.events import job_task_stopped, sqs_event
from tests.support.fargate import launchable_network, register_fargate_family

REGION = "us-east-1"


@contextmanager
def failing_once(operation: str, *marks: str) -> Iterator[list[str]]:
    """The next `operation` call (e.g. "PutItem") whose request carries every mark fails once with an HTTP 500,
    before it reaches AWS: what a fault between two steps of a flow looks like. Yields the calls that failed."""
    import botocore.handlers
    from botocore.exceptions import ClientError

    failed: list[str] = []

    def before_call(model: Any, params: dict[str, Any], **_: Any) -> None:
        body = params.get("body", b"")
        text = body.decode() if isinstance(body, bytes) else str(body)
        if model.name == operation and not failed and all(mark in text for mark in marks):
            failed.append(operation)
            error = {"Code": "InternalFailure", "Message": f"injected on {operation}"}
            raise ClientError({"Error": error, "ResponseMetadata": {"HTTPStatusCode": 500}}, operation)

    hook = ("before-call", before_call)
    botocore.handlers.BUILTIN_HANDLERS.append(hook)
    boto3.DEFAULT_SESSION = None  # sessions made from now on carry the hook
    try:
        yield failed
    finally:
        botocore.handlers.BUILTIN_HANDLERS.remove(hook)
        boto3.DEFAULT_SESSION = None


@contextmanager
def tasks_stay_running() -> Iterator[None]:
    """moto moves a task one lifecycle step per DescribeTasks call; a real task stays RUNNING until it stops."""
    from moto.moto_api import state_manager

    state_manager.set_transition("ecs::task", {"progression": "manual", "times": 10**9})
    try:
        yield
    finally:
        state_manager.unset_transition("ecs::task")


class BatchWorld:
    def __init__(self, stack: Any, function_env: Any, write_config: Any, lambda_context: Any) -> None:
        self.stack = stack
        self._function_env = function_env
        self._write_config = write_config
        self.context = lambda_context
        self.ecs = boto3.client("ecs", region_name=REGION)
        self.scheduler = boto3.client("scheduler", region_name=REGION)
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.group = stack.physical["ScheduleGroup"]
        self.subnet, self.security_group = launchable_network(boto3.client("ec2", region_name=REGION), "jobs")
        self.ecs.create_cluster(clusterName="demo")
        register_fargate_family(self.ecs, "report")
        # Notifications land in a queue subscribed to the topic (raw: the body is what a chat client gets).
        self.inbox = self.sqs.create_queue(QueueName="notifications")["QueueUrl"]
        inbox_arn = self.sqs.get_queue_attributes(QueueUrl=self.inbox, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        boto3.client("sns", region_name=REGION).subscribe(
            TopicArn=stack.topic_arn, Protocol="sqs", Endpoint=inbox_arn, Attributes={"RawMessageDelivery": "true"}
        )
        self.config_path: Path | None = None

    # ---------------------------------------------------------------------------------------------- jobs
    def job(self, **overrides: Any) -> dict[str, Any]:
        job: dict[str, Any] = {
            "name": "report",
            "schedule": "cron(0 2 * * ? *)",
            "timezone": "Europe/Berlin",
            "cluster": "demo",
            "task_definition": "report",
            "launch_type": "FARGATE",
            "network": {"subnets": [self.subnet], "security_groups": [self.security_group]},
            "notify_on": ["failure", "success", "skipped"],
        }
        job.update(overrides)
        return job

    def declare(
        self, *jobs: dict[str, Any], slack_webhook: str | None = None, accounts: dict[str, Any] | None = None
    ) -> None:
        """Write the declarations, give the process the batch function's env, and sync the schedules.

        With `slack_webhook`, Slack (webhook mode, its URL in the stack's secret) is a channel beside SNS."""
        notifications: dict[str, Any] = {"sns": True}
        if slack_webhook:
            from aws_lambda_powertools.utilities import parameters

            boto3.client("secretsmanager", region_name=REGION).put_secret_value(
                SecretId=self.stack.physical["SlackSecret"], SecretString=json.dumps({"webhook_url": slack_webhook})
            )
            parameters.clear_caches()
            notifications["slack"] = {"mode": "webhook"}
        declared = {"version": 1, "jobs": list(jobs), "notifications": notifications} | (
            {"accounts": accounts} if accounts else {}
        )
        self.config_path = self._write_config(declared)
        self._function_env("BatchFunction", self.config_path)
        self.sync()

    def sync(self) -> schedules.SyncReport:
        assert self.config_path is not None
        return schedules.sync_schedules(
            load_config(self.config_path),
            self.scheduler,
            group=self.group,
            target_arn=self.stack.arns["BatchQueue"],
            role_arn=self.stack.arns["SchedulerRole"],
            dlq_arn=self.stack.arns["BatchDLQ"],
        )

    # ---------------------------------------------------------------------------------------- deliveries
    def deliver(self, *bodies: Any) -> dict[str, Any]:
        from functions.batch.app import lambda_handler

        deps.reset()
        return lambda_handler(sqs_event(*bodies, queue_arn=self.stack.arns["BatchQueue"]), self.context)

    def fire(self, job: str, scheduled: datetime) -> dict[str, Any]:
        """What Scheduler sends when the job's schedule fires: its Target.Input with the context filled in."""
        target = self.scheduler.get_schedule(Name=job, GroupName=self.group)["Target"]
        assert target["Arn"] == self.stack.arns["BatchQueue"]
        body = schedules.render_input(target["Input"], scheduled, str(uuid.uuid4()))
        return self.deliver(body)

    def one_time(self, kind: str) -> list[dict[str, Any]]:
        """The one-time (retry / deadline) schedules waiting in the group."""
        names = [s["Name"] for s in self.scheduler.list_schedules(GroupName=self.group)["Schedules"]]
        return [
            self.scheduler.get_schedule(Name=n, GroupName=self.group)
            for n in names
            if n.startswith(f"dockhand-{kind}-")
        ]

    def fire_one_time(self, schedule: dict[str, Any]) -> dict[str, Any]:
        """A one-time schedule fires (Input has no placeholders) and, with ActionAfterCompletion DELETE, goes away."""
        result = self.deliver(schedule["Target"]["Input"])
        if schedule.get("ActionAfterCompletion") == "DELETE":
            self.scheduler.delete_schedule(Name=schedule["Name"], GroupName=self.group)
        return result

    def stop(
        self,
        task_arn: str,
        exit_code: int | None,
        reason: str = "Essential container in task exited",
        container_reason: str | None = None,
    ) -> dict[str, Any]:
        """The task exits: stop it in moto and deliver the STOPPED event ECS would emit for it."""
        self.ecs.stop_task(cluster="demo", task=task_arn, reason=reason)
        return self.deliver(self.stopped_event(task_arn, exit_code, reason, container_reason))

    def stopped_event(
        self, task_arn: str, exit_code: int | None, reason: str, container_reason: str | None = None
    ) -> dict[str, Any]:
        task = self.ecs.describe_tasks(cluster="demo", tasks=[task_arn])["tasks"][0]
        stop_code = "EssentialContainerExited" if exit_code is not None else "TaskFailedToStart"
        return job_task_stopped(task, exit_code, reason, stop_code, container_reason)

    # ------------------------------------------------------------------------------------------- reading
    def runs(self, job: str = "report") -> list[RunRecord]:
        return Runs(deps.table()).history(job)

    def tasks(self, desired: str = "RUNNING") -> list[dict[str, Any]]:
        arns = self.ecs.list_tasks(cluster="demo", desiredStatus=desired)["taskArns"]
        if not arns:
            return []
        return self.ecs.describe_tasks(cluster="demo", tasks=arns, include=["TAGS"])["tasks"]

    def notifications(self) -> list[dict[str, Any]]:
        out = []
        while True:
            msgs = self.sqs.receive_message(QueueUrl=self.inbox, MaxNumberOfMessages=10).get("Messages", [])
            if not msgs:
                return out
            for m in msgs:
                out.append(json.loads(m["Body"]))
                self.sqs.delete_message(QueueUrl=self.inbox, ReceiptHandle=m["ReceiptHandle"])

    @staticmethod
    def kinds(notes: list[dict[str, Any]]) -> list[str]:
        return [n["metadata"]["eventType"] for n in notes]
