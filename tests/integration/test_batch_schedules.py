"""Job schedules follow dockhand.yaml: sync creates, updates, disables and deletes; the deploy-time custom resource
runs it and answers CloudFormation on its ResponseURL; an invalid job is refused before anything changes."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from dockhand.batch import schedules
from dockhand.config import parse_config
from dockhand.errors import ConfigError
from tests.integration.batch_helpers import BatchWorld


@pytest.fixture
def world(stack: Any, function_env: Any, write_config: Any, lambda_context: Any) -> BatchWorld:
    return BatchWorld(stack, function_env, write_config, lambda_context)


def _names(world: BatchWorld) -> dict[str, str]:
    found = world.scheduler.list_schedules(GroupName=world.group)["Schedules"]
    return {s["Name"]: s["State"] for s in found}


def test_sync_creates_schedules_made_only_from_the_declaration(world: BatchWorld) -> None:
    # Given a job with a time zone and a flexible window
    world.config_path = world._write_config({"jobs": [world.job(flexible_window_minutes=15)]})
    # When the schedules are synced
    report = world.sync()
    # Then one schedule exists, built from the declaration, targeting the batch queue through the scheduler role
    assert report.created == ["report"]
    got = world.scheduler.get_schedule(Name="report", GroupName=world.group)
    assert got["ScheduleExpression"] == "cron(0 2 * * ? *)"
    assert got["ScheduleExpressionTimezone"] == "Europe/Berlin"
    assert got["FlexibleTimeWindow"] == {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15}
    assert got["State"] == "ENABLED"
    target = got["Target"]
    assert target["Arn"] == world.stack.arns["BatchQueue"]
    assert target["RoleArn"] == world.stack.arns["SchedulerRole"]
    assert target["DeadLetterConfig"] == {"Arn": world.stack.arns["BatchDLQ"]}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 185
    assert json.loads(target["Input"]) == {
        "action": "launch",
        "attempt": 1,
        "dockhand": "job",
        "execution_id": "<aws.scheduler.execution-id>",
        "job": "report",
        "scheduled_time": "<aws.scheduler.scheduled-time>",
    }


def test_sync_updates_disables_deletes_and_leaves_one_time_schedules(world: BatchWorld) -> None:
    # Given three synced jobs and a pending retry schedule
    world.config_path = world._write_config({"jobs": [world.job(name="a"), world.job(name="b"), world.job(name="c")]})
    world.sync()
    world.scheduler.create_schedule(
        Name="dockhand-retry-0123",
        GroupName=world.group,
        ScheduleExpression="at(2026-12-01T00:00:00)",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={"Arn": world.stack.arns["BatchQueue"], "RoleArn": world.stack.arns["SchedulerRole"], "Input": "{}"},
    )
    # When the file changes a's schedule, suspends b, removes c, adds d, and is synced again
    world.config_path = world._write_config(
        {
            "jobs": [
                world.job(name="a", schedule="cron(30 3 * * ? *)"),
                world.job(name="b", suspend=True),
                world.job(name="d"),
            ]
        }
    )
    report = world.sync()
    # Then each change is made and reported; the retry schedule is untouched
    assert (report.created, report.updated, report.disabled, report.deleted) == (["d"], ["a"], ["b"], ["c"])
    assert _names(world) == {"a": "ENABLED", "b": "DISABLED", "d": "ENABLED", "dockhand-retry-0123": "ENABLED"}
    assert world.scheduler.get_schedule(Name="a", GroupName=world.group)["ScheduleExpression"] == "cron(30 3 * * ? *)"
    # And a sync with no change changes nothing
    again = world.sync()
    assert again.unchanged == ["a", "b", "d"] and not (again.created or again.updated or again.deleted)


def test_loading_refuses_a_malformed_job_with_the_field_named() -> None:
    # Given a job whose cron has both day fields set and one without a network on FARGATE
    bad = {"jobs": [{"name": "x", "schedule": "cron(0 5 * * 1 *)", "cluster": "c", "task_definition": "t"}]}
    # Then loading fails and names the field
    with pytest.raises(ConfigError, match=r"jobs\.0\.schedule: .*exactly one of day-of-month and day-of-week"):
        parse_config(bad)


# ------------------------------------------------------------------------------------- custom resource


class _Receiver(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []
    failures_left = 0  # the next PUTs answered 503, as an endpoint briefly down would

    def do_PUT(self) -> None:  # the http.server API names it
        length = int(self.headers["Content-Length"])
        body = json.loads(self.rfile.read(length))
        failing = type(self).failures_left > 0
        if failing:
            type(self).failures_left -= 1
        else:
            type(self).received.append(body)
        self.send_response(503 if failing else 200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def cloudformation_response_url(failures: int = 0) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A loopback server standing in for CloudFormation's pre-signed ResponseURL: (url, bodies it accepted)."""
    received: list[dict[str, Any]] = []
    handler = type("Receiver", (_Receiver,), {"received": received, "failures_left": failures})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/cfn-response?sig=x", received
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def response_url() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    with cloudformation_response_url() as served:
        yield served


def _cfn_event(world: BatchWorld, request: str, url: str, version: str) -> dict[str, Any]:
    props = world.stack.template["Resources"]["JobSchedules"]["Properties"]
    assert props["ConfigVersion"] == {"Ref": "ConfigLayer"}  # a changed file means a new version, so an Update
    return {
        "RequestType": request,
        "ResponseURL": url,
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/dockhand/1",
        "RequestId": f"req-{request}",
        "LogicalResourceId": "JobSchedules",
        "PhysicalResourceId": f"{world.group}-job-schedules",
        "ResourceType": "Custom::DockhandSchedules",
        "ResourceProperties": {
            "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:sync",
            "ConfigVersion": version,
            "ScheduleGroup": world.group,
            "TargetArn": world.stack.arns["BatchQueue"],
            "RoleArn": world.stack.arns["SchedulerRole"],
            "DeadLetterArn": world.stack.arns["BatchDLQ"],
        },
    }


def _invoke(world: BatchWorld, event: dict[str, Any]) -> dict[str, Any]:
    from dockhand import deps
    from functions.schedule_sync.app import lambda_handler

    deps.reset()
    return lambda_handler(event, world.context)


def test_custom_resource_syncs_on_create_and_update_and_cleans_up_on_delete(
    world: BatchWorld, function_env: Any, response_url: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = response_url
    # Given the deployed file declares one job
    path = world._write_config({"jobs": [world.job(name="a")]})
    function_env("ScheduleSyncFunction", path)
    # When CloudFormation creates the resource
    _invoke(world, _cfn_event(world, "Create", url, "1"))
    # Then the schedule exists and CloudFormation hears SUCCESS
    assert _names(world) == {"a": "ENABLED"}
    assert received[-1]["Status"] == "SUCCESS" and received[-1]["Data"]["created"] == "a"
    assert received[-1]["RequestId"] == "req-Create"
    # When a new file (new config layer version) replaces a with b and the stack is updated
    path.write_text(json.dumps({"jobs": [world.job(name="b")]}))
    _invoke(world, _cfn_event(world, "Update", url, "2"))
    assert _names(world) == {"b": "ENABLED"}
    assert received[-1]["Status"] == "SUCCESS"
    # When the stack is deleted
    _invoke(world, _cfn_event(world, "Delete", url, "2"))
    assert _names(world) == {}
    assert received[-1]["Status"] == "SUCCESS"
    assert received[-1]["PhysicalResourceId"] == f"{world.group}-job-schedules"


def test_an_invalid_job_is_refused_with_the_field_named_before_anything_changes(
    world: BatchWorld, function_env: Any, response_url: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = response_url
    # Given a deployed job a
    path = world._write_config({"jobs": [world.job(name="a")]})
    function_env("ScheduleSyncFunction", path)
    _invoke(world, _cfn_event(world, "Create", url, "1"))
    # When the file changes a and adds b with a cron the regex accepts but Scheduler would refuse (day-of-week 8)
    path.write_text(
        json.dumps(
            {
                "jobs": [
                    world.job(name="a", schedule="cron(0 5 * * ? *)"),
                    world.job(name="b", schedule="cron(0 5 ? * 8 *)"),
                ]
            }
        )
    )
    _invoke(world, _cfn_event(world, "Update", url, "2"))
    # Then the deploy fails naming the field, and a's schedule is unchanged, b was never made
    assert received[-1]["Status"] == "FAILED"
    assert "jobs.1.schedule" in received[-1]["Reason"] and "day-of-week 8" in received[-1]["Reason"]
    assert _names(world) == {"a": "ENABLED"}
    assert world.scheduler.get_schedule(Name="a", GroupName=world.group)["ScheduleExpression"] == "cron(0 2 * * ? *)"
    # And `dockhand validate` refuses the same file before any deploy
    from typer.testing import CliRunner

    from dockhand_cli.main import app

    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 1 and "jobs.1.schedule" in result.output


def test_sync_itself_refuses_an_invalid_job(world: BatchWorld) -> None:
    # Given a declaration built without validation (as a caller of the library might)
    from dockhand.config import DockhandConfig, Job

    bad = DockhandConfig.model_construct(
        jobs=[Job.model_construct(**{**Job.model_validate(world.job()).__dict__, "schedule": "cron(0 5 ? * 8 *)"})]
    )
    # Then sync refuses with the field named and makes nothing
    with pytest.raises(ConfigError, match=r"jobs\.0\.schedule"):
        schedules.sync_schedules(bad, world.scheduler, world.group, "arn:q", "arn:role", None)
    assert _names(world) == {}


def test_custom_resource_fails_the_deploy_with_the_field_named(
    world: BatchWorld, function_env: Any, response_url: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = response_url
    # Given a deployed file with a job whose name is reserved
    path = world._write_config({"jobs": [world.job(name="dockhand-retry-me")]})
    function_env("ScheduleSyncFunction", path)
    # When CloudFormation creates the resource
    _invoke(world, _cfn_event(world, "Create", url, "1"))
    # Then CloudFormation hears FAILED with the field, and no schedule was made
    assert received[-1]["Status"] == "FAILED"
    assert "jobs.0.name" in received[-1]["Reason"]
    assert _names(world) == {}


def test_the_answer_to_cloudformation_is_retried_when_the_first_put_fails(world: BatchWorld, function_env: Any) -> None:
    # Given CloudFormation's response URL answers the first PUT with 503
    with cloudformation_response_url(failures=1) as (url, received):
        path = world._write_config({"jobs": [world.job(name="a")]})
        function_env("ScheduleSyncFunction", path)
        # When CloudFormation creates the resource
        _invoke(world, _cfn_event(world, "Create", url, "1"))
        # Then the answer is sent again and arrives once: SUCCESS, and the schedule exists
        assert [r["Status"] for r in received] == ["SUCCESS"]
        assert _names(world) == {"a": "ENABLED"}


def test_the_schedules_resource_gives_up_waiting_soon_after_the_function_would() -> None:
    # Given the template / Then CloudFormation waits for the custom resource a little longer than the function
    # may run, not the default hour
    from dockhand_local.stack import load_template

    resources = load_template()["Resources"]
    timeout = int(resources["ScheduleSyncFunction"]["Properties"]["Timeout"])
    assert timeout < int(resources["JobSchedules"]["Properties"]["ServiceTimeout"]) <= timeout + 120
