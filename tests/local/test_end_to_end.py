"""`dockhand local up` driven from outside, by the `aws` CLI and the `dockhand local` commands, as a developer would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dockhand_local.images import image_manifest
from dockhand_local.stack import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("local-runtime")]

BIN = Path(sys.executable).parent
REGION = "us-east-1"


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DOCKHAND_"))}
    env.update(
        {
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "NO_COLOR": "1",
        }
    )
    return env


def _wait_until(probe: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what} did not happen within {timeout:.0f} s")


@pytest.fixture(scope="module")
def local_up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """`dockhand local up` in a subprocess on free ports; yields what it wrote to its state file."""
    state_dir = tmp_path_factory.mktemp("local-up")
    log = (state_dir / "up.log").open("w")
    process = subprocess.Popen(
        [str(BIN / "dockhand"), "local", "up", "--state-dir", str(state_dir), "--deploy-delay", "0.3", "--speed", "1"],
        cwd=ROOT,
        env=_clean_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    state_file = state_dir / "local.json"
    try:
        _wait_until(lambda: state_file.exists() or process.poll() is not None, 60, "the runtime's state file")
        assert process.poll() is None, (state_dir / "up.log").read_text()
        state = json.loads(state_file.read_text())
        yield {**state, "state_dir": state_dir}
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


def aws(state: dict[str, Any], *args: str) -> Any:
    out = subprocess.run(
        [str(BIN / "aws"), "--endpoint-url", state["endpoint"], "--region", REGION, "--output", "json", *args],
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout) if out.stdout.strip() else None


def make_service(state: dict[str, Any], cluster: str, service: str, image: str) -> str:
    """A Fargate service made with the aws CLI (moto wants DNS hostnames, security groups, container memory)."""
    vpc = aws(state, "ec2", "create-vpc", "--cidr-block", "10.9.0.0/16")["Vpc"]["VpcId"]
    aws(state, "ec2", "modify-vpc-attribute", "--vpc-id", vpc, "--enable-dns-hostnames", '{"Value": true}')
    subnet = aws(state, "ec2", "create-subnet", "--vpc-id", vpc, "--cidr-block", "10.9.1.0/24")["Subnet"]["SubnetId"]
    sg = aws(state, "ec2", "create-security-group", "--group-name", service, "--description", service, "--vpc-id", vpc)[
        "GroupId"
    ]
    aws(state, "ecs", "create-cluster", "--cluster-name", cluster)
    containers = json.dumps([{"name": service, "image": image, "memory": 256, "essential": True}])
    first = aws(
        state,
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
    aws(
        state,
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


def test_aws_cli_push_deploys_the_service(local_up: dict[str, Any], tmp_path: Path) -> None:
    # Given a repository and a Fargate service demo/web on web:1.0.0, made with the aws CLI
    # (config/dockhand.yaml deploys repository web to demo/web under ^1.0)
    uri = aws(local_up, "ecr", "create-repository", "--repository-name", "web")["repository"]["repositoryUri"]
    first = make_service(local_up, "demo", "web", f"{uri}:1.0.0")

    # When an image tagged 1.1.0 is put into ECR with the aws CLI
    manifest = tmp_path / "manifest.json"
    manifest.write_text(image_manifest("web:1.1.0"))
    image = aws(
        local_up,
        "ecr",
        "put-image",
        "--repository-name",
        "web",
        "--image-tag",
        "1.1.0",
        "--image-manifest",
        f"file://{manifest}",
    )["image"]
    digest = image["imageId"]["imageDigest"]

    # Then `aws ecs describe-services` shows the service on a new revision pinned to the pushed digest
    def deployed() -> str | None:
        service = aws(local_up, "ecs", "describe-services", "--cluster", "demo", "--services", "web")["services"][0]
        return service["taskDefinition"] if service["taskDefinition"] != first else None

    revision = _wait_until(deployed, 30, "the deploy")
    task_definition = aws(local_up, "ecs", "describe-task-definition", "--task-definition", revision)["taskDefinition"]
    assert task_definition["containerDefinitions"][0]["image"] == f"{uri}@{digest}"
    assert task_definition["revision"] == 2

    # And the service got a new PRIMARY deployment of that revision, which completes
    def completed() -> bool:
        deployments = aws(local_up, "ecs", "describe-services", "--cluster", "demo", "--services", "web")["services"][
            0
        ]["deployments"]
        return deployments[0]["taskDefinition"] == revision and deployments[0].get("rolloutState") == "COMPLETED"

    _wait_until(completed, 30, "the deployment's completion")

    # And the control API lists the deploy notification captured from SNS
    listed = subprocess.run(
        [str(BIN / "dockhand"), "local", "messages", "--json", "--state-dir", str(local_up["state_dir"])],
        cwd=ROOT,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert listed.returncode == 0, listed.stderr
    titles = [m["message"]["content"]["title"] for m in json.loads(listed.stdout)["sns"]]
    assert any("web:1.1.0" in t for t in titles), titles


def test_stop_task_command_reaches_the_watcher(local_up: dict[str, Any]) -> None:
    # Given a service ops/api in the running runtime
    make_service(local_up, "ops", "api", "public.ecr.aws/docker/library/nginx:1.27")

    # When two tasks are reported stopped with exit code 137 through the CLI
    out = subprocess.run(
        [
            str(BIN / "dockhand"),
            "local",
            "stop-task",
            "--cluster",
            "ops",
            "--service",
            "api",
            "--exit-code",
            "137",
            "--reason",
            "OutOfMemoryError: Container killed",
            "--count",
            "2",
            "--state-dir",
            str(local_up["state_dir"]),
        ],
        cwd=ROOT,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stderr

    # Then the runtime's timeline shows them handed to the watcher
    def watched() -> bool:
        timeline = subprocess.run(
            [str(BIN / "dockhand"), "local", "timeline", "--json", "--state-dir", str(local_up["state_dir"])],
            cwd=ROOT,
            env=_clean_env(),
            capture_output=True,
            text=True,
            timeout=30,
        )
        entries = json.loads(timeline.stdout)
        stopped = next(i for i, e in enumerate(entries) if "stopped, exit code 137" in e["text"])
        return any(e["data"].get("function") == "WatcherFunction" for e in entries[stopped:])

    _wait_until(watched, 20, "the watcher's delivery")
