"""The flows the fault-injection suite walks: each sets up its world, starts with what AWS would deliver, and
says when it ended as intended. Every AWS call a flow's handlers make is then failed in turn."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import boto3

from tests.faults.world import ACCOUNT, REGION, JobScript, World, _now
from tests.support.events import load_event
from tests.support.fargate import launchable_network, register_fargate_family

REGISTRY = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
DIGEST = "sha256:" + "7" * 64


@dataclass(frozen=True)
class Flow:
    name: str
    setup: Callable[[World], None]  # resources and declarations; may run handlers (not counted, never faulted)
    start: Callable[[World], None]  # what AWS delivers to begin the flow
    check: Callable[[World], str | None]  # None when the flow ended as intended, else what is wrong


# ------------------------------------------------------------------------------------------------ deploy


def _web(world: World, services: tuple[str, ...] = ("web",), old_revisions: int = 0) -> None:
    ecs = boto3.client("ecs", region_name=REGION)
    ecs.create_cluster(clusterName="demo")
    for i in range(old_revisions):
        ecs.register_task_definition(
            family="web", containerDefinitions=[{"name": "web", "image": f"{REGISTRY}/web:0.{i}.0", "memory": 256}]
        )
    td = ecs.register_task_definition(
        family="web",
        containerDefinitions=[
            {"name": "web", "image": f"{REGISTRY}/web:1.0.0", "memory": 256},
            {"name": "proxy", "image": "public.ecr.aws/nginx/nginx:1.27", "memory": 64},
        ],
    )["taskDefinition"]["taskDefinitionArn"]
    for name in services:
        ecs.create_service(cluster="demo", serviceName=name, taskDefinition=td, desiredCount=1)


def _deploy_config(services: tuple[str, ...], **deploy: Any) -> dict[str, Any]:
    target = {"name": "web", "repository": "web", "tags": "semver:^1.0", "cluster": "demo", "services": list(services)}
    return {"deploy": {**deploy, "targets": [target]}, "watch": {"crash_loop_window_minutes": 10}}


def _push(tag: str = "1.1.0", event_id: str = "push-1") -> dict[str, Any]:
    event = load_event("ecr-image-push")
    event.update(id=event_id, account=ACCOUNT, region=REGION, time=_now().isoformat())
    event["detail"].update({"repository-name": "web", "image-tag": tag, "image-digest": DIGEST})
    return event


def _deployed(services: tuple[str, ...]) -> Callable[[World], str | None]:
    def check(world: World) -> str | None:
        ecs = boto3.client("ecs", region_name=REGION)
        for svc in ecs.describe_services(cluster="demo", services=list(services))["services"]:
            td = ecs.describe_task_definition(taskDefinition=svc["taskDefinition"])["taskDefinition"]
            images = {c["name"]: c["image"] for c in td["containerDefinitions"]}
            if images.get("web") != f"{REGISTRY}/web@{DIGEST}":
                return f"{svc['serviceName']} runs {images.get('web')}"
        return None

    return check


def deploy_flow(services: tuple[str, ...]) -> Flow:
    def setup(world: World) -> None:
        _web(world, services)
        world.declare(_deploy_config(services))

    return Flow(
        name=f"deploy to {len(services)} service(s)",
        setup=setup,
        start=lambda world: world.send("DeployQueue", _push()),
        check=_deployed(services),
    )


# ----------------------------------------------------------------------------------- deployment outcomes


def _deployment_id(world: World) -> str:
    from dockhand.state.table import Table

    table = Table(boto3.resource("dynamodb", region_name=REGION), world.stack.table_name)
    items = table.scan_prefix("DEPLOYMENT#")
    assert len(items) == 1, items
    return str(items[0]["deployment_id"])


def outcome_flow(name: str, sample: str) -> Flow:
    state: dict[str, str] = {}

    def setup(world: World) -> None:
        _web(world, ("web",), old_revisions=4)
        world.declare(_deploy_config(("web",), keep_revisions=2))
        world.send("DeployQueue", _push())
        world.settle()
        state["deployment"] = _deployment_id(world)

    def start(world: World) -> None:
        event = load_event(sample)
        event.update(account=ACCOUNT, region=REGION, time=_now().isoformat())
        event["resources"] = [f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/demo/web"]
        event["detail"].update(deploymentId=state["deployment"], updatedAt=_now().isoformat())
        world.send("WatchQueue", event)

    def check(world: World) -> str | None:
        from dockhand.state.table import Table

        table = Table(boto3.resource("dynamodb", region_name=REGION), world.stack.table_name)
        record = table.get(f"DEPLOYMENT#{state['deployment']}", "META") or {}
        want = "COMPLETED" if "completed" in sample else "ROLLED_BACK"
        if record.get("status") != want:
            return f"deployment is {record.get('status')}, expected {want}"
        if want == "ROLLED_BACK" and not table.get("HOLD#web", DIGEST):
            return "the rolled-back digest is not held"
        return None

    return Flow(name=name, setup=setup, start=start, check=check)


# ---------------------------------------------------------------------------------------------- promotion


def promotion_flow() -> Flow:
    """web 1.1.0 runs in staging (cluster demo); its deployment completes, the bake ends clean, and the promotion
    deploys it to production (cluster prod) through the deploy queue."""
    state: dict[str, str] = {}

    def setup(world: World) -> None:
        from dockhand_local.images import image_manifest

        _web(world, ("web",))
        ecs = boto3.client("ecs", region_name=REGION)
        ecs.create_cluster(clusterName="prod")
        td = ecs.register_task_definition(
            family="web-prod", containerDefinitions=[{"name": "web", "image": f"{REGISTRY}/web:1.0.0", "memory": 256}]
        )["taskDefinition"]["taskDefinitionArn"]
        ecs.create_service(cluster="prod", serviceName="web", taskDefinition=td, desiredCount=1)
        ecr = boto3.client("ecr", region_name=REGION)  # what prod runs is dated by ECR
        ecr.create_repository(repositoryName="web")
        ecr.put_image(repositoryName="web", imageTag="1.0.0", imageManifest=image_manifest("web:1.0.0"))
        config = _deploy_config(("web",))
        config["deploy"]["targets"][0]["stage"] = "staging"
        prod = {"name": "web-prod", "repository": "web", "stage": "production", "promote_from": "staging"}
        config["deploy"]["targets"].append(prod | {"cluster": "prod", "services": ["web"], "bake_minutes": 20})
        world.declare(config)
        world.send("DeployQueue", _push())
        world.settle()
        state["deployment"] = _deployment_id(world)

    def start(world: World) -> None:
        event = load_event("ecs-deployment-completed")
        event.update(account=ACCOUNT, region=REGION, time=_now().isoformat())
        event["resources"] = [f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/demo/web"]
        event["detail"].update(deploymentId=state["deployment"], updatedAt=_now().isoformat())
        world.send("WatchQueue", event)

    def check(world: World) -> str | None:
        ecs = boto3.client("ecs", region_name=REGION)
        svc = ecs.describe_services(cluster="prod", services=["web"])["services"][0]
        td = ecs.describe_task_definition(taskDefinition=svc["taskDefinition"])["taskDefinition"]
        image = td["containerDefinitions"][0]["image"]
        return None if image == f"{REGISTRY}/web@{DIGEST}" else f"production runs {image}"

    return Flow(name="promotion after a clean bake", setup=setup, start=start, check=check)


# -------------------------------------------------------------------------------------------------- watch


def _service_stop(n: int, sample: str = "ecs-task-stopped-oom") -> dict[str, Any]:
    event = copy.deepcopy(load_event(sample))
    arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/demo/{n:032x}"
    stopped = _now() - timedelta(seconds=5)
    event.update(id=f"stop-{n}", account=ACCOUNT, region=REGION, time=stopped.isoformat(), resources=[arn])
    event["detail"].update(
        taskArn=arn,
        clusterArn=f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/demo",
        group="service:web",
        startedBy="ecs-svc/1234567890",
        stoppedAt=stopped.isoformat(),
        version=3,
    )
    return event


def _sent(kinds: list[str]) -> Callable[[World], str | None]:
    """The flow ended as intended when SNS received exactly these kinds (in any order)."""

    def check(world: World) -> str | None:
        got = sorted(n["metadata"]["eventType"] for n in _sns(world))
        return None if got == sorted(kinds) else f"SNS got {got}, expected {sorted(kinds)}"

    return check


def _sns(world: World) -> list[dict[str, Any]]:
    import json

    sqs = world.sqs
    while True:
        msgs = sqs.receive_message(QueueUrl=world._sns_inbox, MaxNumberOfMessages=10).get("Messages", [])
        if not msgs:
            return world.sns
        for m in msgs:
            world.sns.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=world._sns_inbox, ReceiptHandle=m["ReceiptHandle"])


def alert_flow() -> Flow:
    def setup(world: World) -> None:
        _web(world)
        world.declare(_deploy_config(("web",)))

    return Flow(
        name="watch alert",
        setup=setup,
        start=lambda world: world.send("WatchQueue", _service_stop(1)),
        check=_sent(["task_failed"]),
    )


def crash_loop_flow() -> Flow:
    def setup(world: World) -> None:
        _web(world)
        world.declare(_deploy_config(("web",)))

    def start(world: World) -> None:
        for n in range(1, 4):
            world.send("WatchQueue", _service_stop(n))

    return Flow(name="crash-loop close", setup=setup, start=start, check=_sent(["task_failed", "crash_loop"]))


def service_event_flow() -> Flow:
    def setup(world: World) -> None:
        _web(world)
        world.declare(_deploy_config(("web",)))

    def start(world: World) -> None:
        event = load_event("ecs-service-action-placement-failure")
        event.update(account=ACCOUNT, region=REGION)
        world.send("WatchQueue", event)

    return Flow(name="service event", setup=setup, start=start, check=_sent(["service_event"]))


def restart_flow() -> Flow:
    def setup(world: World) -> None:
        subnet, sg = launchable_network(boto3.client("ec2", region_name=REGION), "nightly", cidr="10.9")
        ecs = boto3.client("ecs", region_name=REGION)
        cluster = ecs.create_cluster(clusterName="batch")["cluster"]["clusterArn"]
        td = register_fargate_family(ecs, "nightly", container="job", image="nightly:1")
        network = {"subnets": [subnet], "security_groups": [sg]}
        world.declare({"watch": {"restart": {"families": ["nightly"], "backoff_seconds": 30, "network": network}}})
        world.restart_origin = (cluster, td)  # type: ignore[attr-defined]

    def start(world: World) -> None:
        cluster, td = world.restart_origin  # type: ignore[attr-defined]
        event = load_event("ecs-task-stopped-app-exit-standalone")
        arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/batch/{'e' * 32}"
        event.update(account=ACCOUNT, region=REGION, resources=[arn], time=_now().isoformat())
        event["detail"].update(
            taskArn=arn,
            clusterArn=cluster,
            taskDefinitionArn=td,
            group="family:nightly",
            startedBy="cron",
            launchType="FARGATE",
            version=5,
            containers=[{"name": "job", "exitCode": 1, "lastStatus": "STOPPED"}],
        )
        world.send("WatchQueue", event)

    def check(world: World) -> str | None:
        ecs = boto3.client("ecs", region_name=REGION)
        arns = ecs.list_tasks(cluster="batch")["taskArns"]
        tasks = ecs.describe_tasks(cluster="batch", tasks=arns)["tasks"] if arns else []
        restarted = [t for t in tasks if str(t.get("startedBy", "")).startswith("dockhand-restart/1/")]
        if len(restarted) != 1:
            return f"{len(restarted)} restarted task(s)"
        return _sent(["task_failed", "task_restarted"])(world)

    return Flow(name="restart", setup=setup, start=start, check=check)


# -------------------------------------------------------------------------------------------------- batch


def _batch_world(world: World, **job: Any) -> None:
    subnet, sg = launchable_network(boto3.client("ec2", region_name=REGION), "jobs")
    ecs = boto3.client("ecs", region_name=REGION)
    ecs.create_cluster(clusterName="demo")
    register_fargate_family(ecs, "report")
    spec = {
        "name": "report",
        "schedule": "cron(0 2 * * ? *)",
        "timezone": "Europe/Berlin",
        "cluster": "demo",
        "task_definition": "report",
        "launch_type": "FARGATE",
        "network": {"subnets": [subnet], "security_groups": [sg]},
        "notify_on": ["failure", "success", "skipped"],
        **job,
    }
    world.declare({"jobs": [spec]})
    world.sync_schedules()


def _run_status(want: str, attempts: int | None = None) -> Callable[[World], str | None]:
    def check(world: World) -> str | None:
        from dockhand.state.runs import Runs
        from dockhand.state.table import Table

        runs = Runs(Table(boto3.resource("dynamodb", region_name=REGION), world.stack.table_name)).history("report")
        if len(runs) != 1:
            return f"{len(runs)} run(s)"
        run = runs[0]
        if run.status != want:
            return f"run is {run.status}, expected {want} ({run.reason})"
        if attempts is not None and run.attempt != attempts:
            return f"run ended on attempt {run.attempt}, expected {attempts}"
        return None

    return check


def job_flow(name: str, script: list[JobScript], status: str, attempts: int, **job: Any) -> Flow:
    def setup(world: World) -> None:
        _batch_world(world, **job)
        world.job_scripts = list(script)

    return Flow(
        name=name,
        setup=setup,
        start=lambda world: world.fire_job("report", _now()),
        check=_run_status(status, attempts),
    )


def run_now_replace_flow() -> Flow:
    """A person runs a Replace job now while its scheduled run still runs: the running one is stopped and
    recorded as replaced, the new run starts and succeeds."""

    def setup(world: World) -> None:
        _batch_world(world, concurrency="Replace")
        world.job_scripts = [JobScript(None), JobScript(0)]  # the scheduled run never ends by itself
        world.fire_job("report", _now() - timedelta(minutes=5))
        world.settle()

    def start(world: World) -> None:
        now = _now().isoformat()
        world.send(
            "BatchQueue",
            {"dockhand": "job", "action": "run_now", "job": "report", "run_id": "now-1", "scheduled_time": now},
        )

    def check(world: World) -> str | None:
        from dockhand.state.runs import Runs
        from dockhand.state.table import Table

        runs = Runs(Table(boto3.resource("dynamodb", region_name=REGION), world.stack.table_name)).history("report")
        got = sorted((r.trigger, r.status) for r in runs)
        want = [("run_now", "succeeded"), ("schedule", "replaced")]
        return None if got == want else f"runs are {got}, expected {want}"

    return Flow(name="job run now replaces a running run", setup=setup, start=start, check=check)


FLOWS: list[Flow] = [
    deploy_flow(("web",)),
    deploy_flow(("web", "api")),
    outcome_flow("deployment completed", "ecs-deployment-completed"),
    outcome_flow("deployment rolled back", "ecs-deployment-failed"),
    promotion_flow(),
    alert_flow(),
    crash_loop_flow(),
    service_event_flow(),
    restart_flow(),
    job_flow("job launch and completion", [JobScript(0)], "succeeded", 1),
    job_flow("job retry", [JobScript(1), JobScript(0)], "succeeded", 2, retries={"attempts": 2, "backoff_seconds": 60}),
    job_flow("job deadline", [JobScript(None)], "timed_out", 1, max_runtime_minutes=30),
    run_now_replace_flow(),
]
