"""docs/getting-started.md, followed against the local runtime as a new user would: its `local-up` block in a
first shell, then every plain and `local` block in order in a second shell (the `real` blocks — docker, sam —
have their `local` stand-ins). When a command of the guide stops working, this test fails on its block.

One walk through the guide (about 85 commands, each a process of its own) is checked step by step: what the
guide's own commands printed, what the loopback Slack received, and what the emulator holds when the guide ended.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from dockhand_local.control import call
from dockhand_local.runtime import client_environment, read_state
from dockhand_local.stack import ACCOUNT
from tests.support.walkthrough import GUIDE, Block, bash_blocks, checkout_dir, first_shell, run_shell

# The walk takes one to three minutes on two shared cores; pytest's default timeout (300 s) is too near.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("local-runtime"), pytest.mark.timeout(900)]

MARK = "@@ docs/getting-started.md:{} @@"
_MARK = re.compile(r"^@@ docs/getting-started\.md:(\d+) @@$", flags=re.M)
DIGEST = re.compile(r'"imageDigest": "(sha256:[0-9a-f]{64})"')


@dataclass
class Walk:
    """What following the guide left: the second shell's result, each block's output, the runtime's record."""

    result: subprocess.CompletedProcess[str]
    blocks: list[Block]
    outputs: dict[int, str]  # opening line of a block the shell ran -> what it printed
    messages: dict[str, list[dict[str, Any]]]  # what the loopback Slack and the SNS capture received
    world: dict[str, Any]  # what exists in the emulator after the guide's clean-up
    region: str

    def output_of(self, command: str, after: str = "") -> str:
        """The output of the first block the shell ran whose commands include `command`, counting from the first
        block whose commands include `after` (that block included)."""
        ran = [b for b in self.blocks if b.line in self.outputs]
        if after:
            anchor = next((i for i, b in enumerate(ran) if any(after in c for c in b.commands)), len(ran))
            ran = ran[anchor:]
        found = next((b for b in ran if any(command in c for c in b.commands)), None)
        assert found is not None, f"no block running {command!r} after {after!r} was reached; {self.failure()}"
        return self.outputs[found.line]

    def failure(self) -> str:
        marks = _MARK.findall(self.result.stdout)
        where = f"the block at docs/getting-started.md:{marks[-1]}" if marks else "before the first block"
        return f"{where} failed:\n{self.result.stdout[-2500:]}\n{self.result.stderr[-2500:]}"


def second_shell_script(blocks: list[Block]) -> str:
    """The blocks a local reader runs in the second shell, each after a line naming where it starts."""
    return "\n".join(f"echo '{MARK.format(b.line)}'\n{b.text}" for b in blocks if b.tag in ("", "local"))


def _world(state: dict[str, Any]) -> dict[str, Any]:
    env = client_environment(state)  # what `dockhand local env` exports
    session = boto3.Session(
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env["AWS_DEFAULT_REGION"],
    )

    def client(name: str) -> Any:
        return session.client(name, endpoint_url=env["AWS_ENDPOINT_URL"])

    return {
        "active_clusters": [
            c["clusterName"]
            for c in client("ecs").describe_clusters(clusters=["hello"])["clusters"]
            if c["status"] == "ACTIVE"
        ],
        "security_groups": [g["GroupName"] for g in client("ec2").describe_security_groups()["SecurityGroups"]],
        "log_groups": [g["logGroupName"] for g in client("logs").describe_log_groups()["logGroups"]],
        "repositories": [r["repositoryName"] for r in client("ecr").describe_repositories()["repositories"]],
        "roles": [r["RoleName"] for r in client("iam").list_roles()["Roles"]],
        "auto_scaling_groups": client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"],
        "capacity_providers": client("ecs").describe_capacity_providers(capacityProviders=["hello-ec2"])[
            "capacityProviders"
        ],
    }


def _revisions(output: str) -> dict[str, str]:
    """`describe-services --query 'services[].[serviceName, taskDefinition]' --output text` → service: family:rev."""
    rows = [line.split() for line in output.splitlines() if line.startswith("hello-web")]
    return {row[0]: row[-1].rsplit("/", 1)[-1] for row in rows}


def _slack(walk: Walk) -> list[str]:
    return [str(m.get("text") or "") for m in walk.messages["slack"]]


def test_a_reader_following_the_guide_locally_ends_with_deployed_services_and_job_runs(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    # Given a checkout, the guide's `local-up` block running in a first shell
    blocks = bash_blocks(GUIDE)
    (up,) = [b.text for b in blocks if b.tag == "local-up"]
    here = checkout_dir(tmp_path_factory.mktemp("guide"), "config", "examples")
    with first_shell(up, here):
        # When every block a local reader runs is run in order in a second shell
        result = run_shell(second_shell_script(blocks), here)
        marks = list(_MARK.finditer(result.stdout))
        outputs = {
            int(m[1]): result.stdout[m.end() : marks[i + 1].start() if i + 1 < len(marks) else None]
            for i, m in enumerate(marks)
        }
        state = read_state(here / ".dockhand" / "local.json")
        walk = Walk(result, blocks, outputs, call(state["control_url"], "/messages"), _world(state), state["region"])

    # Then every command worked, and every block was reached
    assert result.returncode == 0, walk.failure()
    assert sorted(outputs) == [b.line for b in blocks if b.tag in ("", "local")]
    # And each step did what the guide says it does
    _push_deploys_both_services_pinned_to_the_digest(walk)
    _broken_image_rolls_back_and_is_held(walk)
    _fixed_image_deploys_past_the_held_one(walk)
    _job_runs_now_and_on_its_schedule(walk)
    _clean_up_leaves_nothing(walk)


def _push_deploys_both_services_pinned_to_the_digest(walk: Walk) -> None:
    # Given the push of hello-web:1.1.0 (the guide's PutImage)
    (pushed,) = DIGEST.findall(walk.output_of("--image-tag 1.1.0"))

    # When the guide describes the services and the task definition
    after = walk.output_of("aws ecs describe-services", after="--image-tag 1.1.0")

    # Then both services run a new revision, whose image is the pushed digest
    assert _revisions(after) == {"hello-web": "hello-web:2", "hello-web-ec2": "hello-web-ec2:2"}, after
    image = after.strip().splitlines()[-1]
    assert image == f"{ACCOUNT}.dkr.ecr.{walk.region}.amazonaws.com/hello-web@{pushed}", after
    # And Slack (the webhook the guide put in the stack's secret) heard that each deploy completed
    for service in ("hello-web", "hello-web-ec2"):
        assert any(f"{service}: deploy of hello-web:1.1.0 completed" in text for text in _slack(walk)), _slack(walk)


def _broken_image_rolls_back_and_is_held(walk: Walk) -> None:
    # Given the push of the broken hello-web:1.2.0, whose rollouts fail
    (broken,) = DIGEST.findall(walk.output_of("--image-tag 1.2.0"))

    # When the guide describes the services and lists the holds
    after = walk.output_of("dockhand holds list")

    # Then both services are back on the revision that worked
    assert _revisions(after) == {"hello-web": "hello-web:2", "hello-web-ec2": "hello-web-ec2:2"}, after
    # And the broken digest is held, with the circuit breaker's reason
    held = next((line for line in after.splitlines() if broken in line), "")
    assert "1.2.0" in held and "circuit breaker" in held, after
    # And Slack heard of each rollback as a failure
    for service in ("hello-web", "hello-web-ec2"):
        assert any(f"{service}: deploy of hello-web:1.2.0 rolled back" in text for text in _slack(walk)), _slack(walk)


def _fixed_image_deploys_past_the_held_one(walk: Walk) -> None:
    # Given the push of hello-web:1.2.1 after the rollback
    # When the guide describes the services
    after = walk.output_of("aws ecs describe-services", after="--image-tag 1.2.1")

    # Then both run revision 4 (3 was the broken one)
    assert _revisions(after) == {"hello-web": "hello-web:4", "hello-web-ec2": "hello-web-ec2:4"}, after


def _job_runs_now_and_on_its_schedule(walk: Walk) -> None:
    # Given the job declared in examples/dockhand.yaml, deployed by the guide
    listed = walk.output_of("dockhand jobs list")
    assert re.search(r"hello-batch .*cron\(0 6 \* \* \? \*\) .*Europe/Berlin .*enabled", listed), listed

    # When the guide runs it now, then lets the emulator's clock pass a morning
    first = walk.output_of("dockhand jobs history hello-batch")
    later = walk.output_of("dockhand jobs history hello-batch", after="dockhand local advance-clock")

    # Then the run-now ran and succeeded with exit code 0
    assert re.search(r"run_now .* succeeded .* 0 ", first), first
    # And the scheduled run at 06:00 Berlin (05:00 UTC in winter, 04:00 in summer) ran too
    assert re.search(r"schedule .* succeeded .*T0[45]:00:00\+00:00 .* 0 ", later), later
    # And Slack heard of the successes
    assert sum("Job hello-batch succeeded" in text for text in _slack(walk)) >= 2, _slack(walk)


def _clean_up_leaves_nothing(walk: Walk) -> None:
    # Given the guide's last section, run
    # Then nothing it made is left in the emulator
    world = walk.world
    assert "hello" not in world["active_clusters"] and "hello" not in world["security_groups"], world
    assert not {"hello-web", "hello-batch"} & set(world["repositories"]), world
    assert not {"hello-task-execution", "hello-ecs-instance"} & set(world["roles"]), world
    assert not world["auto_scaling_groups"] and not world["capacity_providers"], world
    assert not {"/ecs/hello-web", "/ecs/hello-batch"} & set(world["log_groups"]), world
