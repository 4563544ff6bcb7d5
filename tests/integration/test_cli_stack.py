"""Every `dockhand` command that reads or writes the stack's resources finds them from the stack's outputs.

The stack here is not called `dockhand` and its table is not called `dockhand` (as with CloudFormation's
generated names): a command that used a name of its own, or a function's DOCKHAND_* variables, would miss it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from typer.testing import CliRunner, Result

from dockhand.batch.schedules import sync_schedules
from dockhand.config import load_config
from dockhand.state.deployments import HoldRecord, Holds
from dockhand.state.runs import RunRecord, Runs
from dockhand.state.stops import StopHistory, StopRecord
from dockhand.state.table import Table
from dockhand_cli.main import app
from dockhand_local.images import image_manifest
from dockhand_local.stack import Stack, create_stack

REGION = "us-east-1"
STACK = "team-dockhand"
DIGEST = "sha256:" + "f" * 64
LONG_REASON = "Essential container in task exited: " + "a reason longer than eighty columns, " * 3 + "kept whole"


@dataclass
class World:
    stack: Stack
    config: Path

    def run(self, *args: str, env: dict[str, str | None] | None = None) -> Result:
        """The command as a person runs it: no DOCKHAND_* variables but DOCKHAND_STACK, output piped."""
        return CliRunner().invoke(app, list(args), env={"DOCKHAND_STACK": STACK, **(env or {})})

    @property
    def table(self) -> Table:
        return Table(boto3.resource("dynamodb", region_name=REGION), self.stack.table_name)

    def queued(self, logical_id: str) -> list[dict[str, Any]]:
        sqs = boto3.client("sqs", region_name=REGION)
        url = self.stack.queue_url(logical_id)
        return [json.loads(m["Body"]) for m in sqs.receive_message(QueueUrl=url).get("Messages", [])]


@pytest.fixture
def declarations(write_config: Any) -> Path:
    """A job `report` and a deploy target for repository `web`."""
    job = {
        "name": "report",
        "schedule": "cron(0 2 * * ? *)",
        "timezone": "Europe/Berlin",
        "cluster": "demo",
        "task_definition": "report",
        "launch_type": "EC2",
    }
    target = {"repository": "web", "tags": "semver:^2.0", "cluster": "demo", "services": ["web"]}
    return Path(write_config({"version": 1, "deploy": {"targets": [target]}, "jobs": [job]}))


@pytest.fixture
def world(moto_aws: None, declarations: Path) -> World:
    """The stack `team-dockhand` from template.yaml, the declared job's schedule deployed, an image in ECR."""
    stack = create_stack(boto3.Session(), region=REGION, name=STACK)
    config = declarations
    sync_schedules(
        load_config(config),
        boto3.client("scheduler", region_name=REGION),
        stack.physical["ScheduleGroup"],
        stack.arns["BatchQueue"],
        stack.arns["SchedulerRole"],
        None,
    )
    ecr = boto3.client("ecr", region_name=REGION)
    ecr.create_repository(repositoryName="web")
    ecr.put_image(repositoryName="web", imageManifest=image_manifest("web:2.1.0"), imageTag="2.1.0")
    assert stack.table_name != "dockhand"
    return World(stack, config)


def test_history_reads_the_stops_of_the_stack(world: World) -> None:
    # Given a recorded stop in the stack's table, with a reason longer than 80 columns
    StopHistory(world.table).record(
        StopRecord(
            cluster="demo",
            group="service:web",
            task_arn="arn:aws:ecs:us-east-1:123456789012:task/demo/abc123",
            cause="oom",
            exit_code=137,
            reason=LONG_REASON,
            stopped_at="2026-11-28T10:00:00Z",
        ),
        keep_days=1,
    )
    # When the history of web is asked
    result = world.run("history", "web")
    # Then the stop is listed, its reason whole on its line
    assert result.exit_code == 0, result.output
    (line,) = result.output.splitlines()
    assert "abc123" in line and "oom" in line and "exit=137" in line and line.endswith("kept whole")


def test_holds_are_listed_and_released_in_the_stack(world: World) -> None:
    # Given a held digest in the stack's table
    Holds(world.table).hold(HoldRecord(repository="web", digest=DIGEST, tag="2.1.0", reason=LONG_REASON))
    # When the holds are listed / Then the digest and the whole reason are on one line (piped: no 80 columns)
    listed = world.run("holds", "list")
    assert listed.exit_code == 0, listed.output
    assert any(DIGEST in line and LONG_REASON in line for line in listed.output.splitlines()), listed.output
    # When the hold is released / Then it is gone from the table
    released = world.run("holds", "release", "web", DIGEST)
    assert released.exit_code == 0, released.output
    assert Holds(world.table).list() == []


def test_jobs_list_shows_the_stack_schedule_state_and_last_outcome(world: World) -> None:
    # Given a finished run of the declared job
    Runs(world.table).open_run(
        RunRecord(job="report", run_id="20261128T010000Z", status="succeeded", trigger="schedule"), history_days=1
    )
    # When the jobs are listed
    result = world.run("jobs", "list", "--config", str(world.config))
    # Then the job's schedule is seen in the stack's group, with its last outcome
    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if " report " in line)
    assert "enabled" in line and "not deployed" not in line
    assert "succeeded (20261128T010000Z)" in line


def test_jobs_history_reads_the_runs_of_the_stack(world: World) -> None:
    # Given a failed run with a long reason
    Runs(world.table).open_run(
        RunRecord(job="report", run_id="20261128T010000Z", status="failed", exit_code=3, reason=LONG_REASON),
        history_days=1,
    )
    # When its history is shown
    result = world.run("jobs", "history", "report")
    # Then the run is there with its whole reason on its line
    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if "20261128T010000Z" in line)
    assert "failed" in line and LONG_REASON in line


def test_jobs_run_sends_to_the_stack_batch_queue(world: World) -> None:
    # When a run of the job is asked
    result = world.run("jobs", "run", "report", "--config", str(world.config))
    # Then a run_now request waits in the stack's batch queue
    assert result.exit_code == 0, result.output
    (body,) = world.queued("BatchQueue")
    assert (body["action"], body["job"]) == ("run_now", "report")
    assert body["run_id"] in result.output


def test_deploy_sends_to_the_stack_deploy_queue(world: World) -> None:
    # When a missed push is replayed
    result = world.run("deploy", "web", "2.1.0", "--config", str(world.config))
    # Then the push event waits in the stack's deploy queue
    assert result.exit_code == 0, result.output
    (event,) = world.queued("DeployQueue")
    assert event["detail"]["repository-name"] == "web" and event["detail"]["image-tag"] == "2.1.0"


def test_the_stack_can_be_named_with_the_option(world: World) -> None:
    # Given DOCKHAND_STACK names a stack that does not exist / When --stack names the real one
    result = world.run("holds", "list", "--stack", STACK, env={"DOCKHAND_STACK": "elsewhere"})
    # Then the option wins
    assert result.exit_code == 0, result.output
    assert "no holds" in result.output


COMMANDS = [
    ["history", "web"],
    ["holds", "list"],
    ["holds", "release", "web", DIGEST],
    ["jobs", "list"],
    ["jobs", "history", "report"],
    ["jobs", "run", "report"],
    ["deploy", "web", "2.1.0"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_missing_stack_is_one_line_naming_it_the_region_and_what_to_do(
    moto_aws: None, declarations: Path, command: list[str]
) -> None:
    # Given no stack called `absent`
    config = ["--config", str(declarations)] if command[0] in ("jobs", "deploy") and command[1] != "history" else []
    # When a command is pointed at it
    result = CliRunner().invoke(app, [*command, *config], env={"DOCKHAND_STACK": "absent"})
    # Then it exits 2 with one line: which stack, which Region, what to do; no traceback
    assert result.exit_code == 2, result.output
    (line,) = result.output.strip().splitlines()
    assert line.startswith("stack 'absent' not found in us-east-1: deploy Dockhand there (sam deploy)")
    assert "dockhand local up" in line and "--stack" in line


def test_a_stack_without_the_output_says_which_output(world: World) -> None:
    # Given a stack whose outputs lack StateTableName (an older version of Dockhand)
    body = {"Resources": {"X": {"Type": "AWS::CloudFormation::WaitConditionHandle"}}, "Outputs": {"A": {"Value": "b"}}}
    boto3.client("cloudformation", region_name=REGION).create_stack(StackName="old", TemplateBody=json.dumps(body))
    # When the holds are listed from it
    result = world.run("holds", "list", env={"DOCKHAND_STACK": "old"})
    # Then one line names the stack, the Region and the missing output
    assert result.exit_code == 2
    (line,) = result.output.strip().splitlines()
    assert line.startswith("stack 'old' in us-east-1 has no output StateTableName")


def test_an_aws_error_after_the_stack_is_found_is_one_line(world: World) -> None:
    # Given the stack's table is gone
    boto3.client("dynamodb", region_name=REGION).delete_table(TableName=world.stack.table_name)
    # When the history is asked
    result = world.run("history", "web")
    # Then one line says what could not be done, in which stack, and why
    assert result.exit_code == 1
    (line,) = result.output.strip().splitlines()
    assert line.startswith(f"cannot read the stop history (stack {STACK!r}, us-east-1): ResourceNotFoundException")


def test_an_endpoint_that_does_not_answer_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the environment points at a local runtime that is no longer running
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    # When the holds are listed
    result = CliRunner().invoke(app, ["holds", "list"])
    # Then one line names the stack, the Region, the endpoint and the likely cause
    assert result.exit_code == 2
    (line,) = result.output.strip().splitlines()
    assert line == (
        "stack 'dockhand' in us-east-1 cannot be read: nothing answers at http://127.0.0.1:9; "
        "is `dockhand local up` still running?"
    )
