"""The deployer end to end: the real handler, SQS records as Lambda gets them, the stack's resources in moto.

moto's update_service creates no new deployment (the PRIMARY deployment keeps its id and old task definition), so
these tests assert on the service's `taskDefinition` and on the ledger, and treat the deployment id as opaque.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from dockhand_local.images import image_manifest
from dockhand_local.slack import LoopbackSlack
from tests.support.events import load_event, sqs_event, with_detail
from tests.support.metrics import metric_total

ACCOUNT = "123456789012"
REGION = "us-east-1"
REGISTRY = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64
DIGEST_C = "sha256:" + "c" * 64


# -------------------------------------------------------------------------------------------- helpers


def push_event(
    repository: str, tag: str, digest: str, *, event_id: str = "e-1", time: str = "2026-11-01T10:00:00Z"
) -> dict[str, Any]:
    event = with_detail(
        load_event("ecr-image-push"), **{"repository-name": repository, "image-tag": tag, "image-digest": digest}
    )
    event.update(id=event_id, time=time, region=REGION, account=ACCOUNT)
    return event


def fifo(event: dict[str, Any], group: str = "ecr-push") -> dict[str, Any]:
    """An SQS event whose records carry the FIFO group the rule gives them."""
    out = sqs_event(event)
    for record in out["Records"]:
        record["attributes"]["MessageGroupId"] = group
    return out


def fifo_bodies(bodies: list[dict[str, Any]], group: str) -> dict[str, Any]:
    out = sqs_event(*bodies)
    for record in out["Records"]:
        record["attributes"]["MessageGroupId"] = group
    return out


def register(ecs: Any, family: str, containers: list[dict[str, Any]], **extra: Any) -> str:
    defs = [{"memory": 256, "essential": c.get("essential", True), **c} for c in containers]
    return ecs.register_task_definition(family=family, containerDefinitions=defs, **extra)["taskDefinition"][
        "taskDefinitionArn"
    ]


def web_container(tag: str = "1.0.0") -> dict[str, Any]:
    return {"name": "web", "image": f"{REGISTRY}/web:{tag}"}


def service_td(ecs: Any, cluster: str, service: str) -> dict[str, Any]:
    arn = ecs.describe_services(cluster=cluster, services=[service])["services"][0]["taskDefinition"]
    out = ecs.describe_task_definition(taskDefinition=arn, include=["TAGS"])
    return {**out["taskDefinition"], "tags": out.get("tags", [])}


def images_of(td: dict[str, Any]) -> dict[str, str]:
    return {c["name"]: c["image"] for c in td["containerDefinitions"]}


def ecr_push(tag: str, at: str, repository: str = "web") -> str:
    """An image pushed to moto's ECR under `tag` at the time `at` (what DescribeImages reports); its digest."""
    import time_machine

    ecr = boto3.client("ecr", region_name=REGION)
    if repository not in [r["repositoryName"] for r in ecr.describe_repositories()["repositories"]]:
        ecr.create_repository(repositoryName=repository)
    with time_machine.travel(at, tick=False):
        manifest = image_manifest(f"{repository}:{tag}:{at}")
        image = ecr.put_image(repositoryName=repository, imageManifest=manifest, imageTag=tag)
    return str(image["image"]["imageId"]["imageDigest"])


def revisions(ecs: Any, family: str) -> int:
    return len(ecs.list_task_definitions(familyPrefix=family)["taskDefinitionArns"])


@pytest.fixture
def ecs() -> Any:
    return boto3.client("ecs", region_name=REGION)


@pytest.fixture
def deployer_env(stack: Any, write_config: Callable[..., Path], function_env: Callable[..., Any]) -> Callable[..., Any]:
    """Write the declarations, give the process the deployer's environment, return the handler."""

    def setup(
        targets: list[dict[str, Any]], notifications: dict[str, Any] | None = None, **deploy: Any
    ) -> Callable[[dict[str, Any]], dict[str, Any]]:
        cfg: dict[str, Any] = {"version": 1, "deploy": {**deploy, "targets": targets}}
        if notifications is not None:
            cfg["notifications"] = notifications
        path = write_config(cfg)
        function_env("DeployerFunction", path)
        from dockhand_local.lambda_context import LambdaContext
        from functions.deployer import app

        return lambda event: app.lambda_handler(event, LambdaContext())

    return setup


@pytest.fixture
def ecs_calls(stack: Any) -> Iterator[Callable[[], Counter[str]]]:
    """Count the ECS API calls the deployer makes (botocore events on the client it uses)."""
    counter: Counter[str] = Counter()

    def install() -> Counter[str]:
        from dockhand import deps

        deps.client("ecs").meta.events.register("before-call.ecs.*", lambda model, **_: counter.update([model.name]))
        return counter

    yield install


@pytest.fixture
def topic_inbox(stack: Any) -> Callable[[], list[dict[str, Any]]]:
    """Every notification published to the stack's topic, read from a subscribed queue."""
    sqs = boto3.client("sqs", region_name=REGION)
    sns = boto3.client("sns", region_name=REGION)
    url = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=stack.topic_arn, Protocol="sqs", Endpoint=arn)

    def read() -> list[dict[str, Any]]:
        out = []
        while True:
            msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
            if not msgs.get("Messages"):
                return out
            for m in msgs["Messages"]:
                envelope = json.loads(m["Body"])
                out.append(
                    {
                        "subject": envelope.get("Subject"),
                        "body": json.loads(envelope["Message"]),
                        "attributes": {k: v["Value"] for k, v in envelope.get("MessageAttributes", {}).items()},
                    }
                )
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])

    return read


def throttle(operation: str, times: int = 1) -> Callable[..., None]:
    """A botocore before-call hook that makes the first `times` calls of `operation` throttle, as AWS does."""
    state = {"left": times}

    def hook(model: Any, **_: Any) -> None:
        if model.name == operation and state["left"] > 0:
            state["left"] -= 1
            raise ClientError(
                {
                    "Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"},
                    "ResponseMetadata": {"HTTPStatusCode": 400},
                },
                operation,
            )

    return hook


def web_target(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "web",
        "repository": "web",
        "tags": "semver:^2.0",
        "cluster": "prod",
        "services": ["web"],
        **overrides,
    }


@pytest.fixture
def web_service(stack: Any, ecs: Any) -> str:
    """A Fargate service `web` in cluster `prod`, on a task definition full of fields a naive copy loses."""
    ecs.create_cluster(clusterName="prod")
    td = register(
        ecs,
        "web",
        [
            {
                **web_container("2.0.0"),
                "secrets": [{"name": "DB", "valueFrom": "arn:aws:ssm:us-east-1:1:parameter/db"}],
                "environment": [{"name": "B", "value": "2"}, {"name": "A", "value": "1"}],
                "mountPoints": [{"sourceVolume": "data", "containerPath": "/data"}],
            },
            {"name": "envoy", "image": "public.ecr.aws/appmesh/aws-appmesh-envoy:v1.29", "essential": False},
            {"name": "worker", "image": f"{REGISTRY}/web-worker:2.0.0", "essential": False},
            {"name": "log", "image": f"999999999999.dkr.ecr.{REGION}.amazonaws.com/web:2.0.0", "essential": False},
        ],
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="512",
        memory="1024",
        runtimePlatform={"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"},
        ephemeralStorage={"sizeInGiB": 50},
        proxyConfiguration={
            "type": "APPMESH",
            "containerName": "envoy",
            "properties": [{"name": "IgnoredUID", "value": "1337"}],
        },
        volumes=[{"name": "data", "host": {}}],
        tags=[{"key": "team", "value": "payments"}],
    )
    ecs.create_service(cluster="prod", serviceName="web", taskDefinition=td, desiredCount=1)
    return td


# ---------------------------------------------------------------------------------------------- tests


def test_push_deploys_a_faithful_pinned_copy(deployer_env, web_service, ecs, ecs_calls, topic_inbox, capsys):
    # Given the web service and a target taking ^2.0
    handler = deployer_env([web_target()])
    calls = ecs_calls()
    # When 2.1.0 is pushed
    result = handler(fifo(push_event("web", "2.1.0", DIGEST_A)))
    # Then the record succeeded and the service runs a new revision with only `web` pinned by digest
    assert result == {"batchItemFailures": []}
    td = service_td(ecs, "prod", "web")
    assert td["revision"] == 2
    assert images_of(td) == {
        "web": f"{REGISTRY}/web@{DIGEST_A}",
        "envoy": "public.ecr.aws/appmesh/aws-appmesh-envoy:v1.29",
        "worker": f"{REGISTRY}/web-worker:2.0.0",
        "log": f"999999999999.dkr.ecr.{REGION}.amazonaws.com/web:2.0.0",
    }
    # And nothing a naive copy loses was lost
    assert td["runtimePlatform"] == {"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"}
    assert td["ephemeralStorage"] == {"sizeInGiB": 50}
    assert td["proxyConfiguration"]["properties"] == [{"name": "IgnoredUID", "value": "1337"}]
    assert td["volumes"] == [{"name": "data", "host": {}}]
    web = td["containerDefinitions"][0]
    assert web["secrets"] == [{"name": "DB", "valueFrom": "arn:aws:ssm:us-east-1:1:parameter/db"}]
    assert (td["cpu"], td["memory"], td["networkMode"]) == ("512", "1024", "awsvpc")
    tags = {t["key"]: t["value"] for t in td["tags"]}
    assert tags["team"] == "payments"
    assert (tags["dockhand:tag"], tags["dockhand:digest"]) == ("2.1.0", DIGEST_A)
    # And the floor of four ECS calls was kept
    assert calls == Counter(
        {"DescribeServices": 1, "DescribeTaskDefinition": 1, "RegisterTaskDefinition": 1, "UpdateService": 1}
    )
    # And a deploy_started notification went out, keyed for the watcher's later update
    (note,) = topic_inbox()
    assert note["attributes"]["kind"] == "deploy_started"
    assert note["body"]["content"]["title"].endswith("Deploying web:2.1.0 to web")
    assert metric_total(capsys.readouterr().out, "DeployStarted") == 1


def deploy_queue_messages(stack: Any) -> list[dict[str, Any]]:
    """Take every message off the deploy queue: body and FIFO group."""
    sqs = boto3.client("sqs", region_name=REGION)
    url = stack.queue_urls["DeployQueue"]
    out: list[dict[str, Any]] = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"])
        if not got.get("Messages"):
            return out
        for m in got["Messages"]:
            out.append({"body": json.loads(m["Body"]), "group": m["Attributes"]["MessageGroupId"]})
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def slack_and_sns(stack: Any, slack: LoopbackSlack, deployer_env: Callable[..., Any]) -> Callable[..., Any]:
    from aws_lambda_powertools.utilities import parameters

    boto3.client("secretsmanager", region_name=REGION).put_secret_value(
        SecretId=stack.physical["SlackSecret"], SecretString=json.dumps({"webhook_url": slack.webhook_url})
    )
    parameters.clear_caches()
    return deployer_env([web_target()], notifications={"sns": True, "slack": {"mode": "webhook"}})  # type: ignore[no-any-return]


def test_slack_down_while_sns_delivers_then_the_redelivery_sends_slack_once_and_deploys_once(
    deployer_env, web_service, ecs, ecs_calls, topic_inbox, stack
):
    with LoopbackSlack() as slack:
        # Given Slack (webhook) and SNS as channels, and Slack answering 503 to the next two messages
        handler = slack_and_sns(stack, slack, deployer_env)
        calls = ecs_calls()
        slack.fail_next(2, status=503)
        # When 2.1.0 and then 2.2.0 are pushed, in one batch of the deploy queue's one push group
        pushes = sqs_event(
            push_event("web", "2.1.0", DIGEST_A, event_id="e-1"),
            push_event("web", "2.2.0", DIGEST_B, event_id="e-2", time="2026-11-01T11:00:00Z"),
        )
        for record in pushes["Records"]:
            record["attributes"]["MessageGroupId"] = "ecr-push"
        first = handler(pushes)
        # Then neither push record fails: both are deployed at once, the second not held back behind the first
        assert first == {"batchItemFailures": []}
        assert images_of(service_td(ecs, "prod", "web"))["web"] == f"{REGISTRY}/web@{DIGEST_B}"
        assert (calls["RegisterTaskDefinition"], calls["UpdateService"]) == (2, 2)
        # And SNS announced both starts, Slack neither
        assert [n["attributes"]["kind"] for n in topic_inbox()] == ["deploy_started", "deploy_started"]
        assert slack.messages == []
        # And each start waits on the deploy queue for its retry, in a group of its own
        retries = deploy_queue_messages(stack)
        assert [(m["group"], m["body"]["dockhand"]) for m in retries] == [("notify", "notify")] * 2
        assert {m["body"]["notification"]["title"] for m in retries} == {
            "Deploying web:2.1.0 to web",
            "Deploying web:2.2.0 to web",
        }
        # When the retries are received (Slack is back)
        second = handler(fifo_bodies([m["body"] for m in retries], group="notify"))
        # Then Slack gets each start once, SNS not twice, and nothing is registered or updated again
        assert second == {"batchItemFailures": []}
        sent = json.dumps(slack.messages)
        assert len(slack.messages) == 2 and "web:2.1.0" in sent and "web:2.2.0" in sent
        assert topic_inbox() == []
        assert (calls["RegisterTaskDefinition"], calls["UpdateService"]) == (2, 2)
        # And a redelivery of the retries sends nothing anywhere
        assert handler(fifo_bodies([m["body"] for m in retries], group="notify")) == {"batchItemFailures": []}
        assert len(slack.messages) == 2 and topic_inbox() == []


def test_a_notification_retry_that_fails_again_fails_its_own_record_only(
    deployer_env, web_service, ecs, topic_inbox, stack
):
    with LoopbackSlack() as slack:
        # Given a deploy whose Slack announcement failed and was queued for a retry
        handler = slack_and_sns(stack, slack, deployer_env)
        slack.fail_next(1, status=503)
        assert handler(fifo(push_event("web", "2.1.0", DIGEST_A))) == {"batchItemFailures": []}
        (retry,) = deploy_queue_messages(stack)
        topic_inbox()
        # When the retry is received while Slack is still down, in one batch with a later push
        slack.fail_next(1, status=503)
        batch = fifo_bodies([retry["body"]], group="notify")
        batch["Records"] += fifo(push_event("web", "2.2.0", DIGEST_B, event_id="e-2", time="2026-11-01T11:00:00Z"))[
            "Records"
        ]
        batch["Records"][1]["messageId"] = "m-1"
        out = handler(batch)
        # Then the retry's record fails (SQS redelivers it, then parks it in the DLQ), the push is deployed
        assert out == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}
        assert images_of(service_td(ecs, "prod", "web"))["web"] == f"{REGISTRY}/web@{DIGEST_B}"
        # And SNS, which delivered the first start already, is not sent it again (only the later push's start)
        published = topic_inbox()
        assert [n["attributes"]["kind"] for n in published] == ["deploy_started"]
        assert "web:2.2.0" in json.dumps(published) and "web:2.1.0" not in json.dumps(published)
        assert len(slack.messages) == 1 and "web:2.2.0" in json.dumps(slack.messages)


def test_deployment_record_is_keyed_by_the_primary_deployment(deployer_env, web_service, ecs, stack):
    # Given the web service (moto keeps the PRIMARY deployment's id on update_service: the id is opaque here)
    handler = deployer_env([web_target()])
    primary = ecs.describe_services(cluster="prod", services=["web"])["services"][0]["deployments"][0]["id"]
    # When 2.1.0 is pushed
    handler(fifo(push_event("web", "2.1.0", DIGEST_A)))
    # Then the deployment record the watcher looks up exists under that id and names the new revision
    table = boto3.resource("dynamodb", region_name=REGION).Table(stack.table_name)
    item = table.get_item(Key={"pk": f"DEPLOYMENT#{primary}", "sk": "META"})["Item"]
    assert item["task_definition_arn"].endswith("task-definition/web:2")
    assert item["previous_task_definition_arn"] == web_service
    assert (item["tag"], item["digest"], item["status"]) == ("2.1.0", DIGEST_A, "IN_PROGRESS")


def test_same_push_three_times_registers_once(deployer_env, web_service, ecs, ecs_calls, capsys):
    # Given the web service
    handler = deployer_env([web_target()])
    calls = ecs_calls()
    # When the same push arrives three times (twice with other event ids, as EventBridge may deliver it)
    for event_id in ("e-1", "e-2", "e-1"):
        assert handler(fifo(push_event("web", "2.1.0", DIGEST_A, event_id=event_id)))["batchItemFailures"] == []
    # Then one revision was registered and the service updated once
    assert revisions(ecs, "web") == 2
    assert calls["RegisterTaskDefinition"] == 1
    assert calls["UpdateService"] == 1
    assert metric_total(capsys.readouterr().out, "DeploySkipped", reason="already_running") == 2


def test_older_semver_never_replaces_a_newer_one(deployer_env, web_service, ecs, topic_inbox, capsys):
    # Given 2.15.0 was deployed
    handler = deployer_env([web_target()])
    handler(fifo(push_event("web", "2.15.0", DIGEST_A, event_id="e-1", time="2026-11-01T10:00:00Z")))
    # When 2.13.9 arrives afterwards (a late build, or a late delivery)
    handler(fifo(push_event("web", "2.13.9", DIGEST_B, event_id="e-2", time="2026-11-01T11:00:00Z")))
    # Then the service still runs 2.15.0's digest
    assert images_of(service_td(ecs, "prod", "web"))["web"] == f"{REGISTRY}/web@{DIGEST_A}"
    assert revisions(ecs, "web") == 2
    # And the skip was reported: metric and notification
    assert metric_total(capsys.readouterr().out, "DeploySkipped", reason="older") == 1
    kinds = [n["attributes"]["kind"] for n in topic_inbox()]
    assert kinds == ["deploy_started", "deploy_skipped"]


def test_without_a_ledger_row_the_running_revision_tags_guard_the_order(deployer_env, stack, ecs, capsys):
    # Given a service on a revision Dockhand registered for 2.15.0, but no ledger row (a rebuilt table)
    ecs.create_cluster(clusterName="prod")
    td = register(
        ecs,
        "web",
        [{"name": "web", "image": f"{REGISTRY}/web@{DIGEST_A}"}],
        tags=[{"key": "dockhand:tag", "value": "2.15.0"}, {"key": "dockhand:digest", "value": DIGEST_A}],
    )
    ecs.create_service(cluster="prod", serviceName="web", taskDefinition=td, desiredCount=1)
    handler = deployer_env([web_target()])
    # When 2.13.9 is pushed
    handler(fifo(push_event("web", "2.13.9", DIGEST_B)))
    # Then the service stays on 2.15.0 and the skip is counted
    assert revisions(ecs, "web") == 1
    assert metric_total(capsys.readouterr().out, "DeploySkipped", reason="older") == 1


def test_earlier_push_time_is_older_without_semver(deployer_env, web_service, ecs, topic_inbox, capsys):
    # Given a glob policy, the running image (web:2.0.0) pushed to ECR at 09:00, and a push at 11:00 deployed
    ecr_push("2.0.0", "2026-11-01T09:00:00Z")
    handler = deployer_env([web_target(tags="glob:main-*")])
    handler(fifo(push_event("web", "main-bbb", DIGEST_B, event_id="e-2", time="2026-11-01T11:00:00Z")))
    # When a push made at 10:00 is delivered late
    handler(fifo(push_event("web", "main-aaa", DIGEST_A, event_id="e-1", time="2026-11-01T10:00:00Z")))
    # Then the later push keeps running
    assert images_of(service_td(ecs, "prod", "web"))["web"] == f"{REGISTRY}/web@{DIGEST_B}"
    assert metric_total(capsys.readouterr().out, "DeploySkipped", reason="older") == 1
    # And the skip says what decided, in the policy's terms: both push times, both digests, which one runs
    skipped = [n for n in topic_inbox() if n["attributes"]["kind"] == "deploy_skipped"]
    assert [n["body"]["content"]["description"].splitlines()[0] for n in skipped] == [
        "web:main-aaa (sha256:aaaaaaaaaaaa, pushed 2026-11-01 10:00:00 UTC) was pushed before web:main-bbb "
        "(sha256:bbbbbbbbbbbb), pushed 2026-11-01 11:00:00 UTC, which runs on web"
    ]


def test_repush_of_the_running_digest_registers_nothing(deployer_env, stack, ecs, ecs_calls, capsys):
    # Given a service whose task definition already runs the digest (deployed by someone else: no ledger row)
    ecs.create_cluster(clusterName="prod")
    td = register(ecs, "web", [{"name": "web", "image": f"{REGISTRY}/web@{DIGEST_A}"}])
    ecs.create_service(cluster="prod", serviceName="web", taskDefinition=td, desiredCount=1)
    handler = deployer_env([web_target()])
    calls = ecs_calls()
    # When the same digest is pushed under a tag the policy takes
    handler(fifo(push_event("web", "2.1.0", DIGEST_A)))
    # Then nothing was registered and the service was not touched
    assert revisions(ecs, "web") == 1
    assert "RegisterTaskDefinition" not in calls and "UpdateService" not in calls
    assert metric_total(capsys.readouterr().out, "DeploySkipped", reason="unchanged") == 1


def test_fan_out_shares_revisions_and_batches_describes(deployer_env, stack, ecs, ecs_calls):
    # Given 12 services in 2 clusters on 3 task-definition families
    families = {}
    for family in ("api", "web", "jobs"):
        families[family] = register(ecs, family, [web_container("2.0.0")])
    services: dict[str, list[str]] = {"blue": [], "green": []}
    for i in range(12):
        cluster = "blue" if i < 7 else "green"
        if not services[cluster]:
            ecs.create_cluster(clusterName=cluster)
        name = f"svc-{i:02d}"
        ecs.create_service(
            cluster=cluster, serviceName=name, taskDefinition=families[("api", "web", "jobs")[i % 3]], desiredCount=1
        )
        services[cluster].append(name)
    handler = deployer_env(
        [
            {"repository": "web", "tags": "semver:^2.0", "cluster": cluster, "services": names}
            for cluster, names in services.items()
        ]
    )
    calls = ecs_calls()
    # When one push arrives
    handler(fifo(push_event("web", "2.1.0", DIGEST_A)))
    # Then three revisions were registered and twelve services updated
    assert calls["RegisterTaskDefinition"] == 3
    assert calls["DescribeTaskDefinition"] == 3
    assert calls["UpdateService"] == 12
    assert calls["DescribeServices"] == 2
    for cluster, names in services.items():
        for svc in ecs.describe_services(cluster=cluster, services=names)["services"]:
            assert svc["taskDefinition"].rsplit(":", 1)[-1] == "2"


def test_describe_services_is_batched_ten_at_a_time(deployer_env, stack, ecs, ecs_calls):
    # Given 23 services in one cluster on one task definition
    ecs.create_cluster(clusterName="prod")
    td = register(ecs, "web", [web_container("2.0.0")])
    names = [f"s{i}" for i in range(23)]
    for name in names:
        ecs.create_service(cluster="prod", serviceName=name, taskDefinition=td, desiredCount=1)
    handler = deployer_env([web_target(services=names)])
    calls = ecs_calls()
    # When one push arrives
    handler(fifo(push_event("web", "2.1.0", DIGEST_A)))
    # Then DescribeServices ran three times and one revision served all 23
    assert calls["DescribeServices"] == 3
    assert calls["RegisterTaskDefinition"] == 1
    assert calls["UpdateService"] == 23


@pytest.mark.parametrize(("prereleases", "deployed"), [(False, False), (True, True)])
def test_prerelease_only_when_the_policy_allows(deployer_env, web_service, ecs, prereleases, deployed):
    # Given a ^2.0 policy with or without pre-releases
    handler = deployer_env([web_target(tags={"kind": "semver", "pattern": "^2.0", "prereleases": prereleases})])
    # When 2.2.0-rc.1 is pushed
    handler(fifo(push_event("web", "2.2.0-rc.1", DIGEST_A)))
    # Then it is deployed only when pre-releases are allowed
    assert (revisions(ecs, "web") == 2) is deployed


def test_held_digest_is_skipped(deployer_env, web_service, ecs, stack, topic_inbox, capsys):
    # Given the digest was rolled back earlier and is held
    handler = deployer_env([web_target()])
    from dockhand import deps
    from dockhand.state.deployments import HoldRecord, Holds

    Holds(deps.table()).hold(HoldRecord(repository="web", digest=DIGEST_A, tag="2.1.0", reason="rolled back"))
    # When it is pushed again
    handler(fifo(push_event("web", "2.1.0", DIGEST_A)))
    # Then nothing changes, and the skip says why
    assert revisions(ecs, "web") == 1
    assert metric_total(capsys.readouterr().out, "DeploySkipped", reason="held") == 1
    assert [n["attributes"]["kind"] for n in topic_inbox()] == ["deploy_skipped"]


@pytest.mark.parametrize("where", ["global", "target"])
def test_dry_run_changes_nothing(deployer_env, web_service, ecs, stack, where, topic_inbox, capsys):
    # Given dry-run on globally or on the target
    if where == "global":
        handler = deployer_env([web_target()], dry_run=True)
    else:
        handler = deployer_env([web_target(dry_run=True)])
    # When a push arrives
    handler(fifo(push_event("web", "2.1.0", DIGEST_A)))
    # Then no revision, no update, no ledger row; the plan was reported with its diff
    assert revisions(ecs, "web") == 1
    assert ecs.describe_services(cluster="prod", services=["web"])["services"][0]["taskDefinition"] == web_service
    table = boto3.resource("dynamodb", region_name=REGION).Table(stack.table_name)
    assert table.scan()["Items"] == []
    assert metric_total(capsys.readouterr().out, "DeploySkipped", reason="dry_run") == 1
    (plan,) = topic_inbox()
    assert plan["attributes"]["kind"] == "deploy_skipped"
    assert (
        f"~ containerDefinitions[web].image: {REGISTRY}/web:2.0.0 → {REGISTRY}/web@{DIGEST_A}"
        in plan["body"]["content"]["description"]
    )


def test_malformed_message_is_parked_and_the_batch_goes_on(deployer_env, web_service, ecs, stack, capsys):
    # Given a batch with a malformed body and a good push
    handler = deployer_env([web_target()])
    event = sqs_event("{not json", push_event("web", "2.1.0", DIGEST_A))
    # When the deployer runs
    result = handler(event)
    # Then no record failed, the good one deployed, the bad one waits in the DLQ with its reason
    assert result == {"batchItemFailures": []}
    assert revisions(ecs, "web") == 2
    sqs = boto3.client("sqs", region_name=REGION)
    msgs = sqs.receive_message(QueueUrl=stack.queue_url("DeployDLQ"), MessageAttributeNames=["All"])["Messages"]
    assert [m["Body"] for m in msgs] == ["{not json"]
    assert msgs[0]["MessageAttributes"]["dockhand-error"]["StringValue"].startswith("malformed")
    assert metric_total(capsys.readouterr().out, "BadInput", reason="malformed") == 1


def test_untagged_child_manifest_is_a_quiet_no_op(deployer_env, web_service, ecs, stack, capsys):
    # Given an OCI child-manifest push (untagged) for a configured repository
    handler = deployer_env([web_target()])
    event = load_event("ecr-image-push-oci-untagged-child")
    event["detail"]["repository-name"] = "web"
    # When it arrives
    result = handler(fifo(event))
    # Then nothing happens, nothing is parked, and it is counted
    assert result == {"batchItemFailures": []}
    assert revisions(ecs, "web") == 1
    sqs = boto3.client("sqs", region_name=REGION)
    assert "Messages" not in sqs.receive_message(QueueUrl=stack.queue_url("DeployDLQ"))
    assert metric_total(capsys.readouterr().out, "DeploySkipped", reason="untagged") == 1


def test_failed_push_is_a_quiet_no_op(deployer_env, web_service, ecs, capsys):
    # Given a push event whose result is not SUCCESS
    handler = deployer_env([web_target()])
    event = load_event("ecr-image-push-failure")
    # When it arrives
    result = handler(fifo(event))
    # Then nothing changes and it is counted
    assert result == {"batchItemFailures": []}
    assert revisions(ecs, "web") == 1
    assert metric_total(capsys.readouterr().out, "DeploySkipped", reason="push_failed") == 1


def test_sample_push_event_deploys(deployer_env, web_service, ecs):
    # Given the sample semver push event (the one `sam local invoke` uses)
    handler = deployer_env([web_target()])
    event = load_event("ecr-image-push-semver")
    # When it arrives
    handler(fifo(event))
    # Then the service runs its digest
    assert images_of(service_td(ecs, "prod", "web"))["web"] == f"{REGISTRY}/web@{event['detail']['image-digest']}"


def test_throttled_update_fails_only_its_record(deployer_env, stack, ecs):
    # Given two repositories deployed to two services
    ecs.create_cluster(clusterName="prod")
    for repo in ("web", "api"):
        td = register(ecs, repo, [{"name": repo, "image": f"{REGISTRY}/{repo}:2.0.0"}])
        ecs.create_service(cluster="prod", serviceName=repo, taskDefinition=td, desiredCount=1)
    handler = deployer_env([web_target(), web_target(name="api", repository="api", services=["api"])])
    from dockhand import deps

    deps.client("ecs").meta.events.register("before-call.ecs.UpdateService", throttle("UpdateService"))
    # When a batch carries a push for each and the first UpdateService is throttled
    event = sqs_event(
        push_event("web", "2.1.0", DIGEST_A, event_id="w"), push_event("api", "2.1.0", DIGEST_B, event_id="a")
    )
    for record, group in zip(event["Records"], ("web", "api"), strict=True):
        record["attributes"]["MessageGroupId"] = group
    result = handler(event)
    # Then only the throttled record failed; the other service was deployed
    assert result == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}
    assert images_of(service_td(ecs, "prod", "api"))["api"] == f"{REGISTRY}/api@{DIGEST_B}"


def test_retry_after_a_crash_between_register_and_update_reuses_the_revision(deployer_env, web_service, ecs, ecs_calls):
    # Given the first UpdateService of a push fails after its revision was registered
    handler = deployer_env([web_target()])
    calls = ecs_calls()
    from dockhand import deps

    deps.client("ecs").meta.events.register("before-call.ecs.UpdateService", throttle("UpdateService"))
    first = handler(fifo(push_event("web", "2.1.0", DIGEST_A)))
    assert first == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}
    # When SQS delivers the message again
    second = handler(fifo(push_event("web", "2.1.0", DIGEST_A)))
    # Then the registered revision was reused: one registration in all, and the service runs it
    assert second == {"batchItemFailures": []}
    assert calls["RegisterTaskDefinition"] == 1
    assert revisions(ecs, "web") == 2
    assert service_td(ecs, "prod", "web")["revision"] == 2


def test_missing_service_is_reported_not_retried(deployer_env, web_service, ecs, topic_inbox, capsys):
    # Given a target naming a service that does not exist next to one that does
    handler = deployer_env([web_target(services=["web", "ghost"])])
    # When a push arrives
    result = handler(fifo(push_event("web", "2.1.0", DIGEST_A)))
    # Then the existing service deployed, the missing one was reported once, nothing retries
    assert result == {"batchItemFailures": []}
    assert revisions(ecs, "web") == 2
    assert metric_total(capsys.readouterr().out, "DeployFailed", reason="missing_service") == 1
    assert sorted(n["attributes"]["kind"] for n in topic_inbox()) == ["deploy_failed", "deploy_started"]


def test_task_definition_without_the_repository_is_reported(deployer_env, stack, ecs, capsys):
    # Given a service whose task definition runs another repository
    ecs.create_cluster(clusterName="prod")
    td = register(ecs, "web", [{"name": "app", "image": f"{REGISTRY}/other:2.0.0"}])
    ecs.create_service(cluster="prod", serviceName="web", taskDefinition=td, desiredCount=1)
    handler = deployer_env([web_target()])
    # When a push of `web` arrives
    result = handler(fifo(push_event("web", "2.1.0", DIGEST_A)))
    # Then nothing is registered, the failure is counted, the record is not retried
    assert result == {"batchItemFailures": []}
    assert revisions(ecs, "web") == 1
    assert metric_total(capsys.readouterr().out, "DeployFailed", reason="no_matching_container") == 1


def test_service_under_another_deployment_controller_is_reported(deployer_env, stack, ecs, capsys):
    # Given a service deployed by CodeDeploy (blue/green)
    ecs.create_cluster(clusterName="prod")
    td = register(ecs, "web", [web_container("2.0.0")])
    ecs.create_service(
        cluster="prod",
        serviceName="web",
        taskDefinition=td,
        desiredCount=1,
        deploymentController={"type": "CODE_DEPLOY"},
    )
    handler = deployer_env([web_target()])
    # When a push arrives
    result = handler(fifo(push_event("web", "2.1.0", DIGEST_A)))
    # Then nothing is registered and the failure says why, once
    assert result == {"batchItemFailures": []}
    assert revisions(ecs, "web") == 1
    assert metric_total(capsys.readouterr().out, "DeployFailed", reason="unsupported_controller") == 1


def test_circuit_breaker_is_turned_on_and_the_rest_kept(deployer_env, web_service, ecs):
    # Given a service with its own deployment configuration and a target asking for the circuit breaker
    ecs.update_service(
        cluster="prod", service="web", deploymentConfiguration={"maximumPercent": 150, "minimumHealthyPercent": 75}
    )
    handler = deployer_env([web_target(circuit_breaker={"enable": True, "rollback": True})])
    # When a push arrives
    handler(fifo(push_event("web", "2.1.0", DIGEST_A)))
    # Then the breaker is on with rollback and the percentages are unchanged
    config = ecs.describe_services(cluster="prod", services=["web"])["services"][0]["deploymentConfiguration"]
    assert config == {
        "maximumPercent": 150,
        "minimumHealthyPercent": 75,
        "deploymentCircuitBreaker": {"enable": True, "rollback": True},
    }


def test_fault_injection_flag_is_carried(deployer_env, web_service, ecs):
    # Given a task definition with enableFaultInjection (moto drops the field on register, so the describe
    # response is given the field here, as AWS returns it, and the copy is read from the register request)
    handler = deployer_env([web_target()])
    from dockhand import deps

    sent: list[dict[str, Any]] = []
    client = deps.client("ecs")

    def add_field(parsed: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name == "DescribeTaskDefinition":
            parsed["taskDefinition"]["enableFaultInjection"] = True

    client.meta.events.register("after-call.ecs.DescribeTaskDefinition", add_field)
    client.meta.events.register(
        "provide-client-params.ecs.RegisterTaskDefinition", lambda params, **_: sent.append(dict(params))
    )
    # When a push arrives
    handler(fifo(push_event("web", "2.1.0", DIGEST_A)))
    # Then the registered copy asked for fault injection too
    assert sent[0]["enableFaultInjection"] is True


# ------------------------------------------------------------------ never backwards where Dockhand never deployed


def hand_deployed(ecs: Any, image: str) -> str:
    """A service `web` in `prod` whose revision someone registered by hand: no dockhand:* tags, no ledger row."""
    ecs.create_cluster(clusterName="prod")
    td = register(ecs, "web", [{"name": "web", "image": image}])
    ecs.create_service(cluster="prod", serviceName="web", taskDefinition=td, desiredCount=1)
    return td


def descriptions(inbox: Callable[[], list[dict[str, Any]]], kind: str) -> list[str]:
    return [n["body"]["content"]["description"].splitlines()[0] for n in inbox() if n["attributes"]["kind"] == kind]


def test_a_lower_version_never_replaces_a_hand_deployed_higher_one(deployer_env, stack, ecs, topic_inbox):
    # Given a service running web:2.14.0 that Dockhand never deployed, and a semver policy
    td = hand_deployed(ecs, f"{REGISTRY}/web:2.14.0")
    handler = deployer_env([web_target()])
    # When 2.13.9 is pushed
    assert handler(fifo(push_event("web", "2.13.9", DIGEST_B))) == {"batchItemFailures": []}
    # Then the service keeps its revision, and the skip names both versions
    assert ecs.describe_services(cluster="prod", services=["web"])["services"][0]["taskDefinition"] == td
    assert revisions(ecs, "web") == 1
    assert descriptions(topic_inbox, "deploy_skipped") == [
        "web:2.13.9 is a lower version than web:2.14.0, which runs on web"
    ]


def test_an_earlier_push_never_replaces_a_hand_deployed_digest_pushed_later(deployer_env, stack, ecs, topic_inbox):
    # Given a service running an image pinned by digest, pushed to ECR at 11:00, under a glob policy
    running = ecr_push("main-bbb", "2026-11-01T11:00:00Z")
    td = hand_deployed(ecs, f"{REGISTRY}/web@{running}")
    handler = deployer_env([web_target(tags="glob:main-*")])
    # When a build pushed at 10:00 arrives
    handler(fifo(push_event("web", "main-aaa", DIGEST_A, time="2026-11-01T10:00:00Z")))
    # Then nothing changes, and the skip gives both push times and both digests
    assert ecs.describe_services(cluster="prod", services=["web"])["services"][0]["taskDefinition"] == td
    short = running[:19]
    assert descriptions(topic_inbox, "deploy_skipped") == [
        f"web:main-aaa (sha256:aaaaaaaaaaaa, pushed 2026-11-01 10:00:00 UTC) was pushed before web:main-bbb "
        f"({short}), pushed 2026-11-01 11:00:00 UTC, which runs on web"
    ]


def test_a_later_push_replaces_a_hand_deployed_digest_pushed_earlier(deployer_env, stack, ecs):
    # Given a service running an image pinned by digest, pushed to ECR at 09:00, under a regex policy
    running = ecr_push("b-1", "2026-11-01T09:00:00Z")
    hand_deployed(ecs, f"{REGISTRY}/web@{running}")
    handler = deployer_env([web_target(tags="regex:^b-\\d+$")])
    # When a build pushed at 10:00 arrives
    handler(fifo(push_event("web", "b-2", DIGEST_A, time="2026-11-01T10:00:00Z")))
    # Then it is deployed
    assert images_of(service_td(ecs, "prod", "web"))["web"] == f"{REGISTRY}/web@{DIGEST_A}"


def test_an_undatable_running_image_takes_the_push_its_tag_still_names_and_says_why(
    deployer_env, stack, ecs, topic_inbox
):
    # Given a service running web:latest (a tag, not a digest) and a policy taking `latest`
    hand_deployed(ecs, f"{REGISTRY}/web:latest")
    pushed = ecr_push("latest", "2026-11-01T10:00:00Z")
    handler = deployer_env([web_target(tags="latest")])
    # When the push that `latest` names in ECR arrives
    handler(fifo(push_event("web", "latest", pushed, time="2026-11-01T10:00:00Z")))
    # Then it is deployed, and its start says the running image could not be dated and why it was deployed
    assert images_of(service_td(ecs, "prod", "web"))["web"] == f"{REGISTRY}/web@{pushed}"
    assert descriptions(topic_inbox, "deploy_started") == [
        f"Deployed although the image web runs ({REGISTRY}/web:latest) cannot be dated: latest still names this "
        f"image in ECR ({pushed[:19]}, pushed 2026-11-01 10:00:00 UTC), so it is the newest push of latest."
    ]


def test_an_undatable_running_image_skips_a_push_its_tag_has_moved_on_from(deployer_env, stack, ecs, topic_inbox):
    # Given a service running web:latest, and `latest` naming an image pushed at 11:00 in ECR
    td = hand_deployed(ecs, f"{REGISTRY}/web:latest")
    newest = ecr_push("latest", "2026-11-01T11:00:00Z")
    handler = deployer_env([web_target(tags="latest")])
    # When the push of 10:00 arrives late
    handler(fifo(push_event("web", "latest", DIGEST_A, time="2026-11-01T10:00:00Z")))
    # Then it is skipped as older, saying what `latest` names now
    assert ecs.describe_services(cluster="prod", services=["web"])["services"][0]["taskDefinition"] == td
    assert descriptions(topic_inbox, "deploy_skipped") == [
        f"web:latest (sha256:aaaaaaaaaaaa, pushed 2026-11-01 10:00:00 UTC) is no longer the newest push of latest: "
        f"ECR has it name {newest[:19]} (pushed 2026-11-01 11:00:00 UTC) now; the image web runs "
        f"({REGISTRY}/web:latest) cannot be dated, so only the newest push of a tag is deployed"
    ]


def test_when_nothing_can_order_the_push_it_is_not_deployed_and_the_skip_says_so(
    deployer_env, stack, ecs, topic_inbox, capsys
):
    # Given a service running web:latest and an ECR that does not know the repository
    td = hand_deployed(ecs, f"{REGISTRY}/web:latest")
    handler = deployer_env([web_target(tags="latest")])
    # When a push of latest arrives
    handler(fifo(push_event("web", "latest", DIGEST_A)))
    # Then nothing changes, and the skip says the order could not be known
    assert ecs.describe_services(cluster="prod", services=["web"])["services"][0]["taskDefinition"] == td
    assert metric_total(capsys.readouterr().out, "DeploySkipped", reason="order_unknown") == 1
    (text,) = descriptions(topic_inbox, "deploy_skipped")
    assert text.startswith(f"Not deployed: the image web runs ({REGISTRY}/web:latest) cannot be dated")


# ------------------------------------------------------------------------------------ two pushes at the same time


@pytest.fixture
def atomic_dynamodb(monkeypatch: pytest.MonkeyPatch) -> None:
    """DynamoDB applies each item write (and its condition) atomically; moto checks and writes without a lock, so
    concurrent writers are given one here, as DynamoDB would."""
    import threading

    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()
    for name in ("put_item", "update_item", "get_item"):
        original = getattr(DynamoDBBackend, name)

        def locked(self: Any, *args: Any, __original: Any = original, **kwargs: Any) -> Any:
            with lock:
                return __original(self, *args, **kwargs)

        monkeypatch.setattr(DynamoDBBackend, name, locked)


def test_two_pushes_of_one_repository_processed_at_once_deploy_the_newer_with_one_registration_each(
    deployer_env, web_service, ecs, atomic_dynamodb
):
    import threading

    from dockhand import deps
    from dockhand.deploy.push import deploy_push
    from dockhand.errors import RetryableError
    from dockhand.events import EcrImageAction
    from functions.deployer import app

    # Given two pushes of web, 2.1.0 (10:00) and 2.2.0 (11:00), handled by two deployers at the same moment,
    # both having read the service's ledger row before either claims it
    deployer_env([web_target()])
    pushes = {
        "older": EcrImageAction.model_validate(push_event("web", "2.1.0", DIGEST_A, event_id="e-1")),
        "newer": EcrImageAction.model_validate(
            push_event("web", "2.2.0", DIGEST_B, event_id="e-2", time="2026-11-01T11:00:00Z")
        ),
    }
    registered: list[str] = []
    deps.client("ecs").meta.events.register(
        "provide-client-params.ecs.RegisterTaskDefinition",
        lambda params, **_: registered.append({t["key"]: t["value"] for t in params["tags"]}["dockhand:digest"]),
    )
    both_read = threading.Barrier(2, timeout=30)
    reads: list[int] = []

    def first_reads_meet(**_: Any) -> None:
        reads.append(1)
        if len(reads) <= 2:
            both_read.wait()

    deps.table().raw.meta.client.meta.events.register("after-call.dynamodb.BatchGetItem", first_reads_meet)
    outcome: dict[str, BaseException | None] = {}

    def deliver(name: str) -> None:
        try:
            deploy_push(pushes[name], app.deployer())
            outcome[name] = None
        except RetryableError as exc:  # the record fails; SQS delivers it again
            outcome[name] = exc

    # When both are processed at once, and whatever failed is delivered again afterwards
    threads = [threading.Thread(target=deliver, args=(name,)) for name in pushes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    waited = [name for name, error in outcome.items() if error is not None]
    for name in waited:
        deliver(name)
    # Then one of them had to wait for the other, both records end done, and the newer runs
    assert sorted(outcome) == ["newer", "older"] and len(waited) == 1
    assert all(error is None for error in outcome.values()), outcome
    assert images_of(service_td(ecs, "prod", "web"))["web"] == f"{REGISTRY}/web@{DIGEST_B}"
    # And each push registered one revision at most
    assert registered.count(DIGEST_B) == 1 and registered.count(DIGEST_A) <= 1


def test_a_notification_whose_record_fails_never_fails_the_push_and_its_retry_sends_nothing_twice(
    deployer_env, web_service, ecs, topic_inbox, stack
):
    with LoopbackSlack() as slack:
        # Given Slack (bot) and SNS, and the write that records the start's delivery failing once
        boto3.client("secretsmanager", region_name=REGION).put_secret_value(
            SecretId=stack.physical["SlackSecret"],
            SecretString=json.dumps({"bot_token": "xoxb-test", "api_url": slack.api_url}),
        )
        handler = deployer_env(
            [web_target()], notifications={"sns": True, "slack": {"mode": "bot", "channel": "C0DEPLOYS"}}
        )
        from dockhand import deps

        failed: list[str] = []

        def fail_the_first_finish(params: dict[str, Any], **_: Any) -> None:
            finishing = ":done" in params.get("ExpressionAttributeValues", {})
            if not failed and finishing and "CLAIM#notify#" in json.dumps(params["Key"]):
                failed.append("finish")
                raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "UpdateItem")

        deps.table().raw.meta.client.meta.events.register(
            "before-parameter-build.dynamodb.UpdateItem", fail_the_first_finish
        )
        # When 2.1.0 is pushed
        result = handler(fifo(push_event("web", "2.1.0", DIGEST_A)))
        # Then the push record succeeds (the group is not held back), and the start waits for its own retry
        assert failed == ["finish"] and result == {"batchItemFailures": []}
        assert images_of(service_td(ecs, "prod", "web"))["web"] == f"{REGISTRY}/web@{DIGEST_A}"
        (retry,) = deploy_queue_messages(stack)
        assert retry["group"] == "notify"
        # And once the retry is handled, each channel has announced the start exactly once
        assert handler(fifo_bodies([retry["body"]], group="notify")) == {"batchItemFailures": []}
        assert [n["attributes"]["kind"] for n in topic_inbox()] == ["deploy_started"]
        assert [m["kind"] for m in slack.messages] == ["post"]
