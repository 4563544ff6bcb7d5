"""What the runtime emits that AWS would and moto does not: pushes, deployments, task stops, job completions."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from dockhand_local.runtime import Runtime, RuntimeOptions
from dockhand_local.stack import ROOT
from tests.support.fargate import launchable_network

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("local-runtime")]


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    state = tmp_path_factory.mktemp("emulation")
    options = RuntimeOptions(
        config_path=ROOT / "config" / "dockhand.yaml",
        state_dir=state,
        pump=False,
        speed=1.0,
        deploy_delay=0.2,
        job_delay=0.1,
        handler_log=state / "handlers.log",
    )
    with Runtime(options) as rt:
        _service(rt, "emu", "api")
        yield rt


def _service(rt: Runtime, cluster: str, name: str) -> str:
    ec2, ecs = rt.client("ec2"), rt.client("ecs")
    subnet, sg = launchable_network(ec2, name, cidr="10.7")
    ecs.create_cluster(clusterName=cluster)
    td = ecs.register_task_definition(
        family=name,
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        containerDefinitions=[{"name": name, "image": "public.ecr.aws/nginx/nginx:1", "memory": 256}],
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(
        cluster=cluster,
        serviceName=name,
        taskDefinition=td,
        desiredCount=1,
        launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [sg]}},
    )
    return str(td)


def _events_for(rt: Runtime, function: str, match: Callable[[dict[str, Any]], bool], n: int = 1) -> list[Any]:
    """Drain the queues until `n` events matching `match` reached `function` (timers emit some events later)."""
    deadline = time.monotonic() + 10
    seen: list[Any] = []
    start = 0
    while time.monotonic() < deadline:
        rt.deliver_pending()
        for d in rt.deliveries[start:]:
            if d.function == function and isinstance(d.body, dict) and "detail" in d.body and match(d.body):
                seen.append(d.body)
        start = len(rt.deliveries)
        if len(seen) >= n:
            return seen
        time.sleep(0.05)
    raise AssertionError(f"{function} got {len(seen)} of {n} expected events")


def _new_revision(rt: Runtime, family: str) -> str:
    ecs = rt.client("ecs")
    td = ecs.describe_task_definition(taskDefinition=family)["taskDefinition"]
    keep = {
        k: td[k] for k in ("family", "networkMode", "requiresCompatibilities", "cpu", "memory", "containerDefinitions")
    }
    return str(ecs.register_task_definition(**keep)["taskDefinition"]["taskDefinitionArn"])


def test_put_image_emits_the_ecr_push_event(runtime: Runtime) -> None:
    # Given a repository (no deploy target for it: the deployer only has to receive the event)
    ecr = runtime.client("ecr")
    ecr.create_repository(repositoryName="emu-push")
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"digest": "sha256:" + "c" * 64},
        "layers": [{"digest": "sha256:" + "d" * 64}],
    }

    # When an image is put with a tag
    image = ecr.put_image(repositoryName="emu-push", imageManifest=json.dumps(manifest), imageTag="3.1.4")["image"]

    # Then the deployer receives ECR Image Action PUSH/SUCCESS with the repository, the digest and the tag
    (event,) = _events_for(runtime, "DeployerFunction", lambda b: b["detail"].get("repository-name") == "emu-push")
    assert event["source"] == "aws.ecr" and event["detail-type"] == "ECR Image Action"
    assert event["detail"] == {
        "result": "SUCCESS",
        "repository-name": "emu-push",
        "action-type": "PUSH",
        "image-digest": image["imageId"]["imageDigest"],
        "image-tag": "3.1.4",
    }
    assert event["account"] == "123456789012"


def test_update_service_makes_a_new_deployment_that_completes(runtime: Runtime) -> None:
    # Given a new revision of the service's family
    ecs = runtime.client("ecs")
    revision = _new_revision(runtime, "api")

    # When the service is updated to it
    ecs.update_service(cluster="emu", service="api", taskDefinition=revision)

    # Then the service has a new PRIMARY deployment of that revision with a fresh id
    deployments = ecs.describe_services(cluster="emu", services=["api"])["services"][0]["deployments"]
    primary = deployments[0]
    assert primary["status"] == "PRIMARY" and primary["taskDefinition"] == revision
    assert all(d["id"] != primary["id"] for d in deployments[1:])
    # And the watcher gets IN_PROGRESS then COMPLETED for that deployment id
    # (a standard queue does not keep order, so the order asserted is the events' own time)
    events = _events_for(runtime, "WatcherFunction", lambda b: b["detail"].get("deploymentId") == primary["id"], 2)
    by_name = {e["detail"]["eventName"]: e for e in events}
    assert set(by_name) == {"SERVICE_DEPLOYMENT_IN_PROGRESS", "SERVICE_DEPLOYMENT_COMPLETED"}
    assert by_name["SERVICE_DEPLOYMENT_IN_PROGRESS"]["time"] <= by_name["SERVICE_DEPLOYMENT_COMPLETED"]["time"]
    final = ecs.describe_services(cluster="emu", services=["api"])["services"][0]["deployments"]
    assert [(d["id"], d["rolloutState"]) for d in final] == [(primary["id"], "COMPLETED")]


def test_a_failed_deployment_rolls_back(runtime: Runtime) -> None:
    # Given the next deployment of api is set to fail
    ecs = runtime.client("ecs")
    previous = ecs.describe_services(cluster="emu", services=["api"])["services"][0]["taskDefinition"]
    runtime.fail_next_deploy("api")

    # When the service is updated to a new revision
    ecs.update_service(cluster="emu", service="api", taskDefinition=_new_revision(runtime, "api"))
    failing = ecs.describe_services(cluster="emu", services=["api"])["services"][0]["deployments"][0]["id"]

    # Then the watcher is told SERVICE_DEPLOYMENT_FAILED by the circuit breaker, and the service is back
    (event,) = _events_for(
        runtime,
        "WatcherFunction",
        lambda b: (
            b["detail"].get("eventName") == "SERVICE_DEPLOYMENT_FAILED" and b["detail"].get("deploymentId") == failing
        ),
    )
    assert event["detail"]["eventType"] == "ERROR" and "circuit breaker" in event["detail"]["reason"]
    assert ecs.describe_services(cluster="emu", services=["api"])["services"][0]["taskDefinition"] == previous


def test_injected_stops_of_a_family_reach_the_watcher(runtime: Runtime) -> None:
    # Given the api family / When two standalone task stops are injected with exit code 137
    arns = runtime.stop_tasks(
        "emu", family="api", exit_code=137, reason="OutOfMemoryError", count=2, started_by="ops-runbook"
    )

    # Then the watcher receives both, STOPPED, with the container's exit code and reason
    events = _events_for(runtime, "WatcherFunction", lambda b: b["detail"].get("taskArn") in arns, 2)
    for event in events:
        detail = event["detail"]
        assert detail["lastStatus"] == "STOPPED" and detail["group"] == "family:api"
        assert detail["containers"][0]["exitCode"] == 137
        assert detail["containers"][0]["reason"] == "OutOfMemoryError"


def test_job_tasks_stop_with_the_scripted_exit_code(runtime: Runtime) -> None:
    # Given the job "emu-job" will exit 3 next
    runtime.plan_job_exits("emu-job", [3])
    ecs = runtime.client("ecs")
    network = ecs.describe_services(cluster="emu", services=["api"])["services"][0]["networkConfiguration"]

    # When a task is run for it, started by Dockhand's batch wing
    task = ecs.run_task(
        cluster="emu",
        taskDefinition="api",
        launchType="FARGATE",
        startedBy="dockhand-job/emu-job",
        networkConfiguration=network,
    )["tasks"][0]

    # Then its STOPPED event, with exit code 3, goes to the batch function and to no other
    (event,) = _events_for(runtime, "BatchFunction", lambda b: b["detail"].get("taskArn") == task["taskArn"])
    assert event["detail"]["containers"][0]["exitCode"] == 3
    others = [
        d.function
        for d in runtime.deliveries
        if d.function != "BatchFunction"
        and isinstance(d.body, dict)
        and (d.body.get("detail") or {}).get("taskArn") == task["taskArn"]
    ]
    assert others == []
    assert not [
        d
        for d in runtime.deliveries
        if d.function == "WatcherFunction"
        and isinstance(d.body, dict)
        and d.body.get("detail", {}).get("taskArn") == task["taskArn"]
    ]
