"""Batch flows end to end in moto: a schedule fires (its own Target.Input), the batch handler launches, tasks stop,
retries come back through one-time schedules, deadlines stop runs, and every outcome is recorded and notified."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from dockhand import deps
from dockhand.batch import spec
from dockhand.state.runs import RunRecord, Runs
from dockhand_local.slack import LoopbackSlack
from tests.integration.batch_helpers import BatchWorld, failing_once, tasks_stay_running
from tests.support.metrics import metric_total

T1 = datetime(2026, 11, 29, 1, 0, tzinfo=UTC)
T2 = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)


@pytest.fixture
def world(stack: Any, function_env: Any, write_config: Any, lambda_context: Any) -> BatchWorld:
    with tasks_stay_running():
        yield BatchWorld(stack, function_env, write_config, lambda_context)


def _only(items: list[Any]) -> Any:
    assert len(items) == 1, items
    return items[0]


# ----------------------------------------------------------------------------------------- launching


def test_scheduled_launch_runs_the_task_as_declared(world: BatchWorld) -> None:
    # Given a job with overrides, tags and a platform version
    world.declare(
        world.job(
            overrides=[{"name": "main", "command": ["report", "--daily"], "environment": {"MODE": "full"}}],
            tags={"team": "data"},
            platform_version="1.4.0",
        )
    )
    # When its schedule fires
    result = world.fire("report", T1)
    # Then one task runs, identified as the job's run, with the declared overrides and network
    assert result == {"batchItemFailures": []}
    task = _only(world.tasks())
    tags = {t["key"]: t["value"] for t in task["tags"]}
    run = _only(world.runs())
    assert task["startedBy"] == spec.started_by("report", run.run_id, 1)
    assert task["startedBy"].startswith("dockhand-job/report/")
    assert tags == {"team": "data", "dockhand:job": "report", "dockhand:run-id": run.run_id, "dockhand:attempt": "1"}
    assert task["overrides"]["containerOverrides"][0]["command"] == ["report", "--daily"]
    assert task["platformVersion"] == "1.4.0"
    assert run.status == "running" and run.task_arn == task["taskArn"] and run.attempt == 1
    assert run.scheduled_time == T1.isoformat()


def test_duplicate_invocation_starts_one_task(world: BatchWorld, capsys: pytest.CaptureFixture[str]) -> None:
    # Given a job (Allow, so concurrency cannot be what stops the second launch)
    world.declare(world.job(concurrency="Allow"))
    body = world.scheduler.get_schedule(Name="report", GroupName=world.group)["Target"]["Input"]
    from dockhand.batch.schedules import render_input

    delivered = render_input(body, T1, "exec-1")
    # When the same scheduled invocation is delivered twice, in one batch and again later
    world.deliver(delivered, delivered)
    world.deliver(delivered)
    # Then exactly one task runs, and the duplicates are counted
    assert len(world.tasks()) == 1
    assert len(world.runs()) == 1
    assert metric_total(capsys.readouterr().out, "JobDuplicateLaunch") == 2


def test_run_now_payload_launches_a_separate_run(world: BatchWorld) -> None:
    # Given a job with a scheduled run going
    world.declare(world.job(concurrency="Allow"))
    world.fire("report", T1)
    # When a person asks to run it now
    world.deliver(
        {
            "dockhand": "job",
            "action": "run_now",
            "job": "report",
            "run_id": "20261129T093000Z-now-abc",
            "scheduled_time": "2026-11-29T09:30:00Z",
        }
    )
    # Then a second run starts, recorded as run_now
    assert len(world.tasks()) == 2
    assert {r.trigger for r in world.runs()} == {"schedule", "run_now"}


# --------------------------------------------------------------------------------------- concurrency


def test_forbid_skips_while_a_run_is_running_and_notifies(
    world: BatchWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a Forbid job whose first run is still running
    world.declare(world.job(concurrency="Forbid"))
    world.fire("report", T1)
    first = _only(world.tasks())
    # When the next scheduled time comes
    world.fire("report", T2)
    # Then no second task starts, the skip is recorded and notified
    assert [t["taskArn"] for t in world.tasks()] == [first["taskArn"]]
    newest, oldest = world.runs()
    assert newest.status == "skipped" and "still running" in (newest.reason or "")
    assert oldest.status == "running"
    notes = world.notifications()
    assert world.kinds(notes) == ["job_skipped"]
    assert metric_total(capsys.readouterr().out, "JobSkipped", job="report") == 1


def test_forbid_launches_when_the_recorded_run_has_actually_stopped(world: BatchWorld) -> None:
    # Given a run record that still says running, but ECS says its task has stopped (its event is late)
    world.declare(world.job(concurrency="Forbid"))
    world.fire("report", T1)
    world.ecs.stop_task(cluster="demo", task=_only(world.tasks())["taskArn"], reason="done")
    # When the next scheduled time comes
    world.fire("report", T2)
    # Then DescribeTasks settles it: the new run starts
    assert len(world.tasks()) == 1
    assert [r.status for r in world.runs()] == ["running", "running"]


def test_replace_stops_the_running_one_with_a_reason_then_starts(world: BatchWorld) -> None:
    # Given a Replace job whose first run is still running
    world.declare(world.job(concurrency="Replace"))
    world.fire("report", T1)
    first = _only(world.tasks())
    # When the next scheduled time comes
    world.fire("report", T2)
    # Then the first task is stopped with a reason, and a new one runs
    stopped = world.ecs.describe_tasks(cluster="demo", tasks=[first["taskArn"]])["tasks"][0]
    assert stopped["lastStatus"] == "STOPPED"
    assert "replaced by run" in stopped["stoppedReason"]
    second = _only(world.tasks())
    assert second["taskArn"] != first["taskArn"]
    newest, oldest = world.runs()
    assert (newest.status, oldest.status) == ("running", "replaced")
    # And the replaced task's own STOPPED event later changes nothing but its stop details
    world.deliver(world.stopped_event(first["taskArn"], 143, "replaced"))
    assert [r.status for r in world.runs()] == ["running", "replaced"]
    assert world.runs()[1].exit_code == 143


def test_allow_starts_alongside(world: BatchWorld) -> None:
    # Given an Allow job whose first run is still running
    world.declare(world.job(concurrency="Allow"))
    world.fire("report", T1)
    # When the next scheduled time comes
    world.fire("report", T2)
    # Then both run
    assert len(world.tasks()) == 2
    assert [r.status for r in world.runs()] == ["running", "running"]


def _waiting_for_retry(world: BatchWorld, concurrency: str) -> tuple[RunRecord, dict[str, Any]]:
    """A run of a job with this policy whose first attempt exited 1: it waits for its retry (one-time schedule)."""
    world.declare(world.job(concurrency=concurrency, retries={"attempts": 3, "backoff_seconds": 600}))
    world.fire("report", T1)
    world.stop(_only(world.tasks())["taskArn"], 1)
    waiting = _only(world.runs())
    assert waiting.status == "retrying"
    return waiting, _only(world.one_time("retry"))


def test_forbid_skips_a_new_run_while_another_waits_for_its_retry(
    world: BatchWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a Forbid job whose first run failed once and waits for its retry (no task runs right now)
    waiting, retry = _waiting_for_retry(world, "Forbid")
    # When the next scheduled time comes
    world.fire("report", T2)
    # Then no task starts: the new run is skipped, saying which run is active and why, and that is notified
    assert world.tasks() == []
    newest, oldest = world.runs()
    assert newest.status == "skipped"
    assert f"run {waiting.run_id} is waiting for its retry" in (newest.reason or "")
    assert world.kinds(world.notifications()) == ["job_skipped"]
    assert metric_total(capsys.readouterr().out, "JobSkipped", job="report") == 1
    # And the waiting run goes on: its retry still comes, and its second attempt runs
    assert oldest.status == "retrying" and _only(world.one_time("retry"))["Name"] == retry["Name"]
    world.fire_one_time(retry)
    assert len(world.tasks()) == 1
    assert [(r.status, r.attempt) for r in world.runs()] == [("skipped", 1), ("running", 2)]


def test_replace_ends_a_run_waiting_for_its_retry_and_starts_the_new_one(
    world: BatchWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a Replace job whose first run waits for its retry
    _, retry = _waiting_for_retry(world, "Replace")
    # When the next scheduled time comes
    world.fire("report", T2)
    # Then the waiting run is ended (replaced, its retry schedule removed) and the new run starts
    newest, oldest = world.runs()
    assert (newest.status, oldest.status) == ("running", "replaced")
    assert f"replaced by run {newest.run_id}" in (oldest.reason or "")
    assert world.one_time("retry") == []
    assert _only(world.tasks())["taskArn"] == newest.task_arn
    assert metric_total(capsys.readouterr().out, "JobReplaced", job="report") == 1
    # And a retry Scheduler had already sent launches nothing for the ended run
    world.deliver(retry["Target"]["Input"])
    assert _only(world.tasks())["taskArn"] == newest.task_arn
    assert [r.status for r in world.runs()] == ["running", "replaced"]


def test_allow_starts_a_new_run_beside_one_waiting_for_its_retry(world: BatchWorld) -> None:
    # Given an Allow job whose first run waits for its retry
    _, retry = _waiting_for_retry(world, "Allow")
    # When the next scheduled time comes, and then the retry
    world.fire("report", T2)
    world.fire_one_time(retry)
    # Then both run: the new run, and the waiting run's second attempt
    assert len(world.tasks()) == 2
    assert [(r.status, r.attempt) for r in world.runs()] == [("running", 1), ("running", 2)]


def test_a_retry_attempt_asks_the_concurrency_policy_too(world: BatchWorld) -> None:
    # Given two runs of an Allow job, the first one waiting for its retry while the second runs
    world.declare(world.job(concurrency="Allow", retries={"attempts": 3, "backoff_seconds": 600}))
    world.fire("report", T1)
    world.fire("report", T2)
    second, first = world.runs()
    world.stop(first.task_arn or "", 1)
    retry = _only(world.one_time("retry"))
    # And the job is now declared Forbid
    world.declare(world.job(concurrency="Forbid", retries={"attempts": 3, "backoff_seconds": 600}))
    # When the first run's retry comes
    world.fire_one_time(retry)
    # Then its second attempt does not start beside the running run: it is skipped, and that is notified
    assert [t["taskArn"] for t in world.tasks()] == [second.task_arn]
    newest, oldest = world.runs()
    assert (newest.status, oldest.status, oldest.attempt) == ("running", "skipped", 2)
    assert f"run {second.run_id} is still running" in (oldest.reason or "")
    assert world.kinds(world.notifications()) == ["job_skipped"]


# ------------------------------------------------------------------------------------ exits, retries


def _retrying_job(world: BatchWorld, **extra: Any) -> dict[str, Any]:
    return world.job(
        retries={
            "attempts": 3,
            "backoff_seconds": 60,
            "evaluate_on_exit": [{"on_exit_code": "2", "action": "fail"}, {"on_exit_code": "*", "action": "retry"}],
        },
        **extra,
    )


def test_exit_0_succeeds_and_notifies(world: BatchWorld) -> None:
    # Given a running run
    world.declare(_retrying_job(world))
    world.fire("report", T1)
    # When its task exits 0
    world.stop(_only(world.tasks())["taskArn"], 0)
    # Then the run succeeded, nothing is retried, success is notified
    run = _only(world.runs())
    assert (run.status, run.exit_code) == ("succeeded", 0)
    assert world.one_time("retry") == []
    assert world.kinds(world.notifications()) == ["job_succeeded"]


def test_slack_down_while_sns_delivers_fails_the_record_and_the_redelivery_sends_slack_once(world: BatchWorld) -> None:
    with LoopbackSlack() as slack:
        # Given a running run, notified on Slack and SNS
        world.declare(_retrying_job(world), slack_webhook=slack.webhook_url)
        world.fire("report", T1)
        stopped = world.stopped_event(_only(world.tasks())["taskArn"], 0, "Essential container in task exited")
        # And Slack answers 503
        slack.fail_next(1, status=503)
        # When the task's STOPPED event arrives
        first = world.deliver(stopped)
        # Then the run succeeded, SNS delivered, Slack did not, and the record failed so SQS redelivers it
        assert [f["itemIdentifier"] for f in first["batchItemFailures"]] == ["m-0"]
        assert _only(world.runs()).status == "succeeded"
        assert world.kinds(world.notifications()) == ["job_succeeded"]
        assert slack.messages == []
        # When SQS redelivers it (Slack is back)
        second = world.deliver(stopped)
        # Then Slack gets the success once, SNS does not get it twice, and the record is done
        assert second == {"batchItemFailures": []}
        assert len(slack.messages) == 1 and "Job report succeeded" in json.dumps(slack.messages[0])
        assert world.notifications() == []
        # And a third (duplicate) delivery sends nothing anywhere
        world.deliver(stopped)
        assert len(slack.messages) == 1 and world.notifications() == []
        assert _only(world.runs()).status == "succeeded" and world.one_time("retry") == []


def test_exit_1_is_retried_through_a_one_time_schedule_then_succeeds(world: BatchWorld) -> None:
    # Given a running run of a job with 3 attempts
    world.declare(_retrying_job(world))
    world.fire("report", T1)
    first = _only(world.tasks())
    # When its task exits 1
    world.stop(first["taskArn"], 1)
    # Then a one-time schedule will bring attempt 2 back to the batch queue (no Lambda waits)
    run = _only(world.runs())
    assert run.status == "retrying" and run.exit_code == 1
    retry = _only(world.one_time("retry"))
    assert retry["ScheduleExpression"].startswith("at(")
    assert retry["ActionAfterCompletion"] == "DELETE"
    assert retry["Target"]["Arn"] == world.stack.arns["BatchQueue"]
    assert retry["Target"]["RoleArn"] == world.stack.arns["SchedulerRole"]
    assert retry["Target"]["DeadLetterConfig"] == {"Arn": world.stack.arns["BatchDLQ"]}
    assert json.loads(retry["Target"]["Input"])["attempt"] == 2
    # When it fires, attempt 2 runs with its own token and tags, and exits 0
    world.fire_one_time(retry)
    second = _only(world.tasks())
    assert {t["key"]: t["value"] for t in second["tags"]}["dockhand:attempt"] == "2"
    world.stop(second["taskArn"], 0)
    # Then the run succeeded on attempt 2, with both attempts in its history
    run = _only(world.runs())
    assert (run.status, run.attempt) == ("succeeded", 2)
    assert [(a["attempt"], a["status"]) for a in run.attempts] == [(1, "retrying"), (2, "succeeded")]
    assert world.kinds(world.notifications()) == ["job_succeeded"]


def test_exit_2_fails_at_once_by_an_exit_rule(world: BatchWorld) -> None:
    # Given a running run of a job whose first exit rule fails code 2
    world.declare(_retrying_job(world))
    world.fire("report", T1)
    # When its task exits 2
    world.stop(_only(world.tasks())["taskArn"], 2)
    # Then it fails with attempts left, no retry, and the failure is notified with the rule named
    run = _only(world.runs())
    assert (run.status, run.attempt, run.exit_code) == ("failed", 1, 2)
    assert "exit rule 1 says fail" in (run.reason or "")
    assert world.one_time("retry") == []
    note = _only(world.notifications())
    assert note["metadata"]["eventType"] == "job_failed"
    assert "exit code 2" in note["content"]["description"]


def test_attempts_stop_at_the_limit(world: BatchWorld, capsys: pytest.CaptureFixture[str]) -> None:
    # Given a job with 2 attempts whose task always exits 1
    world.declare(world.job(retries={"attempts": 2, "backoff_seconds": 0}))
    world.fire("report", T1)
    world.stop(_only(world.tasks())["taskArn"], 1)
    world.fire_one_time(_only(world.one_time("retry")))
    # When attempt 2 exits 1 as well
    world.stop(_only(world.tasks())["taskArn"], 1)
    # Then there is no third attempt; the run failed and that is notified once
    run = _only(world.runs())
    assert (run.status, run.attempt) == ("failed", 2)
    assert "none left" in (run.reason or "")
    assert world.one_time("retry") == []
    assert world.kinds(world.notifications()) == ["job_failed"]
    out = capsys.readouterr().out
    assert metric_total(out, "JobLaunched", job="report") == 2
    assert metric_total(out, "JobFailed", job="report") == 1


def test_a_late_retry_delivery_for_a_finished_attempt_changes_nothing(world: BatchWorld) -> None:
    # Given a run retried to attempt 2, which succeeded
    world.declare(world.job(retries={"attempts": 3}))
    world.fire("report", T1)
    world.stop(_only(world.tasks())["taskArn"], 1)
    retry = _only(world.one_time("retry"))
    world.fire_one_time(retry)
    world.stop(_only(world.tasks())["taskArn"], 0)
    # When the retry payload is delivered again
    world.deliver(retry["Target"]["Input"])
    # Then no task starts and the run stays succeeded
    assert world.tasks() == []
    assert _only(world.runs()).status == "succeeded"


# --------------------------------------------------------------------------------------------- deadline


def test_deadline_stops_a_run_past_its_max_runtime(world: BatchWorld) -> None:
    # Given a job with a maximum runtime, running
    world.declare(world.job(max_runtime_minutes=30))
    world.fire("report", T1)
    task = _only(world.tasks())
    deadline = _only(world.one_time("deadline"))
    assert json.loads(deadline["Target"]["Input"])["action"] == "deadline"
    # When its deadline schedule fires while the task still runs
    world.fire_one_time(deadline)
    # Then the task is stopped with a reason, the run timed out, and that is notified
    stopped = world.ecs.describe_tasks(cluster="demo", tasks=[task["taskArn"]])["tasks"][0]
    assert stopped["lastStatus"] == "STOPPED"
    assert "maximum runtime of 30 minutes" in stopped["stoppedReason"]
    run = _only(world.runs())
    assert run.status == "timed_out"
    assert world.kinds(world.notifications()) == ["job_timed_out"]
    # And the stop event that follows is not retried nor notified again
    world.deliver(world.stopped_event(task["taskArn"], 137, "timed out"))
    assert _only(world.runs()).status == "timed_out"
    assert world.one_time("retry") == [] and world.notifications() == []


def test_deadline_after_a_finished_run_does_nothing(world: BatchWorld) -> None:
    # Given a run that finished before its deadline
    world.declare(world.job(max_runtime_minutes=30))
    world.fire("report", T1)
    deadline = _only(world.one_time("deadline"))
    world.stop(_only(world.tasks())["taskArn"], 0)
    # When the deadline payload arrives anyway
    world.deliver(deadline["Target"]["Input"])
    # Then the run stays succeeded (and the deadline schedule was removed on completion)
    assert _only(world.runs()).status == "succeeded"
    assert world.one_time("deadline") == []


# --------------------------------------------------------------------------------------- launch failures


def _ec2_world(world: BatchWorld) -> str:
    """An EC2 cluster with one container instance (4096 CPU, 7482 MiB in moto)."""
    ec2 = boto3.client("ec2", region_name="us-east-1")
    image = ec2.describe_images()["Images"][0]["ImageId"]
    instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    world.ecs.register_container_instance(cluster="demo", instanceIdentityDocument=json.dumps({"instanceId": instance}))
    world.ecs.register_task_definition(
        family="hog", containerDefinitions=[{"name": "hog", "image": "busybox", "memory": 7000, "essential": True}]
    )
    world.ecs.register_task_definition(
        family="report-ec2",
        containerDefinitions=[{"name": "main", "image": "busybox", "memory": 2048, "essential": True}],
    )
    return world.ecs.run_task(cluster="demo", taskDefinition="hog", launchType="EC2")["tasks"][0]["taskArn"]


def test_capacity_failure_is_retried_then_succeeds(world: BatchWorld, capsys: pytest.CaptureFixture[str]) -> None:
    # Given an EC2 job on a cluster whose only instance is full
    hog = _ec2_world(world)
    world.declare(
        world.job(
            task_definition="report-ec2",
            launch_type="EC2",
            network=None,
            retries={"attempts": 3, "backoff_seconds": 120},
        )
    )
    # When its schedule fires
    world.fire("report", T1)
    # Then RunTask placed nothing: recorded, a retry is scheduled with the backoff, no failure notified yet
    run = _only(world.runs())
    assert run.status == "retrying" and "no capacity" in (run.reason or "")
    retry = _only(world.one_time("retry"))
    assert world.notifications() == []
    # When capacity frees up and the retry fires
    world.ecs.stop_task(cluster="demo", task=hog, reason="done")
    world.fire_one_time(retry)
    # Then attempt 2 runs
    task = _only([t for t in world.tasks() if t["startedBy"].startswith("dockhand-job/report/")])
    run = _only(world.runs())
    assert (run.status, run.attempt, run.task_arn) == ("running", 2, task["taskArn"])
    assert metric_total(capsys.readouterr().out, "JobLaunchFailed", job="report") == 1


def test_run_task_failures_spend_the_budget_then_fail_loudly(world: BatchWorld) -> None:
    # Given a job with 2 attempts, and ECS answering RunTask with failures[] (moto has no failures[] path, so
    # that one call is stubbed at the boto level)
    world.declare(world.job(retries={"attempts": 2}))
    failure = {
        "tasks": [],
        "failures": [{"arn": "arn:aws:ecs:us-east-1:123456789012:container-instance/x", "reason": "RESOURCE:MEMORY"}],
    }
    for fire in (lambda: world.fire("report", T1), lambda: world.fire_one_time(_only(world.one_time("retry")))):
        deps.reset()
        ecs = deps.client("ecs")
        with Stubber(ecs) as stub:
            stub.add_response("run_task", failure)
            _deliver_with_client(world, fire)
            stub.assert_no_pending_responses()
    # Then the run failed after 2 attempts with the ECS reason, and that is notified
    run = _only(world.runs())
    assert (run.status, run.attempt) == ("failed", 2)
    assert "RESOURCE:MEMORY" in (run.reason or "")
    note = _only(world.notifications())
    assert note["metadata"]["eventType"] == "job_failed"
    assert "RESOURCE:MEMORY" in note["content"]["description"]


def _deliver_with_client(world: BatchWorld, fire: Any) -> None:
    """Deliver without resetting deps, so the handler uses the stubbed client."""
    original = world.deliver

    def deliver(*bodies: Any) -> dict[str, Any]:
        from functions.batch.app import lambda_handler
        from tests.support.events import sqs_event

        return lambda_handler(sqs_event(*bodies, queue_arn=world.stack.arns["BatchQueue"]), world.context)

    world.deliver = deliver  # type: ignore[method-assign]
    try:
        fire()
    finally:
        world.deliver = original  # type: ignore[method-assign]


# ------------------------------------------------------------------------------------ faults between steps


def test_a_launch_whose_task_could_not_be_indexed_is_tracked_on_redelivery(world: BatchWorld) -> None:
    # Given a job, and the write that indexes a launched task failing once (RunTask has succeeded)
    world.declare(world.job(max_runtime_minutes=30))
    body = schedules_input(world, T1)
    with failing_once("PutItem", "JOBTASK#") as failed:
        first = world.deliver(body)
    assert failed == ["PutItem"] and [f["itemIdentifier"] for f in first["batchItemFailures"]] == ["m-0"]
    # When SQS redelivers the message
    assert world.deliver(body) == {"batchItemFailures": []}
    # Then one task runs, the run is running with it, and its deadline exists
    task = _only(world.tasks())
    assert _only(world.runs()).task_arn == task["taskArn"] and _only(world.runs()).status == "running"
    assert len(world.one_time("deadline")) == 1
    # And its STOPPED event finds the run: it succeeds and is announced
    world.stop(task["taskArn"], 0)
    assert _only(world.runs()).status == "succeeded"
    assert world.kinds(world.notifications()) == ["job_succeeded"]


def test_a_launch_that_could_not_record_its_task_finds_it_by_started_by(world: BatchWorld) -> None:
    # Given a job, and the write that records RunTask's task on the attempt's claim failing once
    world.declare(world.job())
    body = schedules_input(world, T1)
    with failing_once("UpdateItem", "CLAIM#run-launch#", '"task"') as failed:
        world.deliver(body)
    assert failed == ["UpdateItem"] and _only(world.tasks())
    # When SQS redelivers the message
    world.deliver(body)
    # Then the task launched first is found by its startedBy and tracked; no second task is launched
    task = _only(world.tasks())
    run = _only(world.runs())
    assert (run.status, run.task_arn) == ("running", task["taskArn"])
    assert len(world.ecs.list_tasks(cluster="demo", desiredStatus="STOPPED")["taskArns"]) == 0


def test_a_deadline_that_could_not_be_scheduled_is_scheduled_on_redelivery(world: BatchWorld) -> None:
    # Given a job with a maximum runtime, and the deadline's CreateSchedule failing once after the launch
    world.declare(world.job(max_runtime_minutes=30))
    body = schedules_input(world, T1)
    with failing_once("CreateSchedule", "deadline") as failed:
        world.deliver(body)
    assert failed == ["CreateSchedule"] and world.one_time("deadline") == []
    # When SQS redelivers the message
    world.deliver(body)
    # Then the deadline exists once, for the one task, and it stops the task when it comes
    deadline = _only(world.one_time("deadline"))
    task = _only(world.tasks())
    world.fire_one_time(deadline)
    assert _only(world.runs()).status == "timed_out"
    assert world.ecs.describe_tasks(cluster="demo", tasks=[task["taskArn"]])["tasks"][0]["lastStatus"] == "STOPPED"


def schedules_input(world: BatchWorld, scheduled: datetime) -> str:
    """What the job's schedule sends at `scheduled` (the same body each time SQS delivers it)."""
    from dockhand.batch.schedules import render_input

    target = world.scheduler.get_schedule(Name="report", GroupName=world.group)["Target"]
    return render_input(target["Input"], scheduled, "exec-1")


# ---------------------------------------------------------------------------------------------- bad input


def test_unknown_job_and_junk_are_parked_not_retried(world: BatchWorld, capsys: pytest.CaptureFixture[str]) -> None:
    # Given a declared job
    world.declare(world.job())
    # When a payload for an undeclared job and a junk body arrive
    result = world.deliver(
        {"dockhand": "job", "action": "launch", "job": "ghost", "scheduled_time": "2026-11-29T01:00:00Z"}, "not json"
    )
    # Then neither fails the batch; both are parked in the DLQ with the reason
    assert result == {"batchItemFailures": []}
    dlq = world.stack.queue_url("BatchDLQ")
    msgs = world.sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, MessageAttributeNames=["All"])["Messages"]
    reasons = sorted(m["MessageAttributes"]["dockhand-error"]["StringValue"].split(":")[0] for m in msgs)
    assert reasons == ["malformed", "unknown_job"]
    assert metric_total(capsys.readouterr().out, "BadInput", reason="unknown_job") == 1


def test_stop_event_of_an_unknown_task_is_ignored(world: BatchWorld) -> None:
    # Given no runs
    world.declare(world.job())
    # When a STOPPED event of a task Dockhand did not start arrives (the sample event)
    from tests.support.events import load_event

    result = world.deliver(load_event("ecs-task-stopped-job"))
    # Then nothing fails and nothing is recorded
    assert result == {"batchItemFailures": []}
    assert world.runs() == []


def test_client_token_fits_the_api() -> None:
    # Given the longest job name and run id
    token = spec.client_token("j" * 64, "20261129T010000Z-abcdef", 10)
    # Then the RunTask clientToken and startedBy fit their limits
    assert len(token) <= 64
    assert len(spec.started_by("j" * 64, "20261129T010000Z-abcdef", 10)) == 36


def test_forbid_is_not_blocked_forever_by_a_launch_that_died(world: BatchWorld) -> None:
    # Given a run record left pending long ago by a launch that died before RunTask (no task, no outcome)
    world.declare(world.job(concurrency="Forbid"))
    Runs(deps.table()).open_run(
        RunRecord(job="report", run_id="20261128T010000Z-dead00", created_at="2026-11-28T01:00:00+00:00"),
        history_days=30,
    )
    # When the next scheduled time comes
    world.fire("report", T1)
    # Then the new run starts
    assert len(world.tasks()) == 1
    assert [r.status for r in world.runs()] == ["running", "pending"]


def test_run_history_is_kept_for_the_jobs_history_days(world: BatchWorld) -> None:
    # Given a job that keeps history for 3 days
    world.declare(world.job(history_days=3))
    # When it runs
    world.fire("report", T1)
    # Then its run record expires (DynamoDB TTL) about 3 days from now, not the 30-day default
    item = deps.table().get("JOB#report", f"RUN#{_only(world.runs()).run_id}")
    assert item is not None
    days = (int(item["expires_at"]) - datetime.now(UTC).timestamp()) / 86400
    assert 2.9 < days <= 3
