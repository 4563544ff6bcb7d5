"""`dockhand local up` driven from outside, as a developer would: every client gets only the `export` line
`up` printed (no endpoint, Region or stack given any other way), and runs the `aws` CLI and `dockhand`."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from dockhand_local.images import image_manifest
from dockhand_local.stack import ROOT
from tests.support.local import wait_until
from tests.support.walkthrough import clean_env

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("local-runtime")]

BIN = Path(sys.executable).parent
CLOCK_START = datetime(2031, 6, 1, 12, 0, tzinfo=UTC)  # far from the wall clock: CLI times must be the runtime's


class Shell:
    """A new shell with `up`'s printed `export` line pasted in, running one command at a time."""

    def __init__(self, export_line: str, state_dir: Path) -> None:
        self.export_line = export_line
        self.state_dir = state_dir

    def run(self, *argv: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        out = subprocess.run(
            ["bash", "-c", f'{self.export_line}\nexec "$@"', "bash", *argv],
            cwd=ROOT,
            env={**clean_env(), "PATH": f"{BIN}:{clean_env()['PATH']}"},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check:
            assert out.returncode == 0, f"{argv}: {out.stdout}\n{out.stderr}"
        return out

    def aws(self, *args: str) -> Any:
        out = self.run("aws", "--output", "json", *args)
        return json.loads(out.stdout) if out.stdout.strip() else None

    def local(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return self.run("dockhand", "local", *args, "--state-dir", str(self.state_dir), check=check, timeout=timeout)


@pytest.fixture(scope="module")
def shell(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shell]:
    """`dockhand local up` in a subprocess on free ports, its clock at CLOCK_START; a Shell with its export line."""
    state_dir = tmp_path_factory.mktemp("local-up")
    log_path = state_dir / "up.log"
    log = log_path.open("w")
    process = subprocess.Popen(
        [
            str(BIN / "dockhand"),
            "local",
            "up",
            "--state-dir",
            str(state_dir),
            "--deploy-delay",
            "0.3",
            "--speed",
            "1",
            "--clock-start",
            CLOCK_START.isoformat(),
        ],
        cwd=ROOT,
        env=clean_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        # `up` prints its lines once the stack is ready (after it wrote local.json)
        wait_until(lambda: "\nexport " in log_path.read_text() or process.poll() is not None, "the runtime", 90)
        assert process.poll() is None, log_path.read_text()
        exports = [line for line in log_path.read_text().splitlines() if line.startswith("export ")]
        assert len(exports) == 1, log_path.read_text()
        yield Shell(exports[0], state_dir)
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def make_service(shell: Shell, cluster: str, service: str, image: str) -> str:
    """A Fargate service made with the aws CLI (moto wants DNS hostnames, security groups, container memory)."""
    vpc = shell.aws("ec2", "create-vpc", "--cidr-block", "10.9.0.0/16")["Vpc"]["VpcId"]
    shell.aws("ec2", "modify-vpc-attribute", "--vpc-id", vpc, "--enable-dns-hostnames", '{"Value": true}')
    subnet = shell.aws("ec2", "create-subnet", "--vpc-id", vpc, "--cidr-block", "10.9.1.0/24")["Subnet"]["SubnetId"]
    sg = shell.aws("ec2", "create-security-group", "--group-name", service, "--description", service, "--vpc-id", vpc)[
        "GroupId"
    ]
    shell.aws("ecs", "create-cluster", "--cluster-name", cluster)
    containers = json.dumps([{"name": service, "image": image, "memory": 256, "essential": True}])
    first = shell.aws(
        "ecs",
        "register-task-definition",
        "--family",
        service,
        "--network-mode",
        "awsvpc",
        "--requires-compatibilities",
        "FARGATE",
        "--cpu",
        "256",
        "--memory",
        "512",
        "--container-definitions",
        containers,
    )["taskDefinition"]["taskDefinitionArn"]
    network = json.dumps({"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [sg]}})
    shell.aws(
        "ecs",
        "create-service",
        "--cluster",
        cluster,
        "--service-name",
        service,
        "--task-definition",
        first,
        "--desired-count",
        "1",
        "--launch-type",
        "FARGATE",
        "--network-configuration",
        network,
    )
    return str(first)


def register_family(shell: Shell, family: str) -> None:
    """The cluster shop and a task definition, made with the aws CLI in one shell."""
    containers = json.dumps([{"name": family, "image": "busybox", "memory": 256}])
    shell.run(
        "bash",
        "-c",
        "aws ecs create-cluster --cluster-name shop >/dev/null && aws ecs register-task-definition "
        f"--family {family} --container-definitions '{containers}' >/dev/null",
    )


def test_aws_cli_push_deploys_the_service(shell: Shell, tmp_path: Path) -> None:
    # Given a repository and a Fargate service demo/web on web:1.0.0, made with the aws CLI
    # (config/dockhand.yaml deploys repository web to demo/web under ^1.0)
    uri = shell.aws("ecr", "create-repository", "--repository-name", "web")["repository"]["repositoryUri"]
    first = make_service(shell, "demo", "web", f"{uri}:1.0.0")

    # When an image tagged 1.1.0 is put into ECR with the aws CLI
    manifest = tmp_path / "manifest.json"
    manifest.write_text(image_manifest("web:1.1.0"))
    image = shell.aws(
        "ecr", "put-image", "--repository-name", "web", "--image-tag", "1.1.0", "--image-manifest", f"file://{manifest}"
    )["image"]
    digest = image["imageId"]["imageDigest"]

    # Then `aws ecs describe-services` shows the service on a new revision pinned to the pushed digest
    def service() -> dict[str, Any]:
        return dict(shell.aws("ecs", "describe-services", "--cluster", "demo", "--services", "web")["services"][0])

    revision = wait_until(lambda: service()["taskDefinition"] != first and service()["taskDefinition"], "deploy", 30)
    task_definition = shell.aws("ecs", "describe-task-definition", "--task-definition", revision)["taskDefinition"]
    assert task_definition["containerDefinitions"][0]["image"] == f"{uri}@{digest}"
    assert task_definition["revision"] == 2

    # And the service got a new PRIMARY deployment of that revision, which completes
    def completed() -> bool:
        deployments = service()["deployments"]
        return deployments[0]["taskDefinition"] == revision and deployments[0].get("rolloutState") == "COMPLETED"

    wait_until(completed, "the deployment's completion", 30)

    # And the control API lists the deploy notification captured from SNS
    titles = [m["message"]["content"]["title"] for m in json.loads(shell.local("messages", "--json").stdout)["sns"]]
    assert any("web:1.1.0" in t for t in titles), titles


def test_stop_task_command_reaches_the_watcher(shell: Shell) -> None:
    # Given a service ops/api in the running runtime
    make_service(shell, "ops", "api", "public.ecr.aws/docker/library/nginx:1.27")

    # When two tasks are reported stopped with exit code 137 through the CLI
    out = shell.local(
        "stop-task", "--cluster", "ops", "--service", "api", "--exit-code", "137", "--reason", "OOM", "--count", "2"
    )
    assert out.stdout.strip() == "stopped 2 task(s) of service api in ops (exit code 137)"

    # Then the runtime's timeline shows them handed to the watcher
    def watched() -> bool:
        entries = json.loads(shell.local("timeline", "--json").stdout)
        stopped = next(i for i, e in enumerate(entries) if "stopped, exit code 137" in e["text"])
        return any(e["data"].get("function") == "WatcherFunction" for e in entries[stopped:])

    wait_until(watched, "the watcher's delivery", 20)


def test_every_stack_command_works_with_only_the_printed_environment(shell: Shell, tmp_path: Path) -> None:
    # Given a stopped standalone task of family cart, and an image in ECR whose push event is to be replayed
    register_family(shell, "cart")
    shell.local("stop-task", "--cluster", "shop", "--family", "cart", "--exit-code", "137", "--reason", "OOM")
    shell.aws("ecr", "create-repository", "--repository-name", "replay")
    manifest = tmp_path / "manifest.json"
    manifest.write_text(image_manifest("replay:1.0.0"))
    shell.aws(
        "ecr",
        "put-image",
        "--repository-name",
        "replay",
        "--image-tag",
        "1.0.0",
        "--image-manifest",
        f"file://{manifest}",
    )

    # When each command that reads or writes the stack's resources runs (no --stack, no table name, no Region)
    outputs = {
        "holds list": shell.run("dockhand", "holds", "list").stdout,
        "jobs list": shell.run("dockhand", "jobs", "list").stdout,
        "jobs run": shell.run("dockhand", "jobs", "run", "nightly-report").stdout,
        "deploy": shell.run("dockhand", "deploy", "replay", "1.0.0").stdout,
    }
    release = shell.run("dockhand", "holds", "release", "web", "sha256:" + "0" * 64, check=False)
    history = wait_until(
        lambda: "run_now" in (out := shell.run("dockhand", "jobs", "history", "nightly-report").stdout) and out,
        "the run in the job's history",
    )
    stops = wait_until(
        lambda: "exit=137" in (out := shell.run("dockhand", "history", "cart").stdout) and out, "cart's stops"
    )

    # Then each found the local stack's resources
    assert "OOM" in stops
    assert outputs["holds list"].strip() == "no holds"
    report = next(line for line in outputs["jobs list"].splitlines() if "nightly-report" in line)
    assert "enabled" in report
    assert "requested run 20310601T12" in outputs["jobs run"]
    assert "20310601T12" in history
    assert "sent the push of replay:1.0.0" in outputs["deploy"]
    assert release.returncode == 1 and "no hold on web@sha256:" in release.stdout
    # And the times they show are the runtime's clock (2031), not this machine's
    assert "2031-06-02 00:00" in report  # the next 02:00 in Berlin after 2031-06-01 12:00 UTC


def test_stop_task_with_a_large_count_returns_with_the_count(shell: Shell) -> None:
    # Given the task-definition family queue
    register_family(shell, "queue")

    # When 500 stops are injected in one command
    out = shell.local("stop-task", "--cluster", "shop", "--family", "queue", "--count", "500", check=False, timeout=600)

    # Then it returns when they are all emitted, saying how many, with no traceback
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "stopped 500 task(s) of family queue in shop (exit code 1)"
    assert "Traceback" not in out.stderr
