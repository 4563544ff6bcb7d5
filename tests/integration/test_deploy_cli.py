"""`dockhand deploy REPOSITORY TAG`: a missed ECR push, replayed through the deploy queue like a real one."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from typer.testing import CliRunner

from dockhand.events import EcrImageAction
from dockhand_cli.main import app
from dockhand_local.images import image_manifest
from dockhand_local.lambda_context import LambdaContext
from tests.support.events import sqs_event
from tests.support.metrics import metric_total

REGION = "us-east-1"
ACCOUNT = "123456789012"
REGISTRY = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"


@dataclass
class World:
    stack: Any
    config_path: Path
    digest: str
    ecs: Any
    sqs: Any

    @property
    def queue_url(self) -> str:
        return str(self.stack.queue_url("DeployQueue"))

    def deploy(self, *args: str) -> Any:
        return CliRunner().invoke(app, ["deploy", *args, "--config", str(self.config_path)], env={"COLUMNS": "250"})

    def messages(self) -> list[dict[str, Any]]:
        out = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, AttributeNames=["All"])
        return list(out.get("Messages", []))

    def deliver(self, message: dict[str, Any]) -> dict[str, Any]:
        """Hand a queued message to the deployer as Lambda would (FIFO group attribute included)."""
        from functions.deployer import app as deployer

        event = sqs_event(message["Body"])
        event["Records"][0]["attributes"]["MessageGroupId"] = message["Attributes"]["MessageGroupId"]
        return dict(deployer.lambda_handler(event, LambdaContext()))

    def service_image(self) -> str:
        arn = self.ecs.describe_services(cluster="prod", services=["web"])["services"][0]["taskDefinition"]
        td = self.ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
        return str(td["containerDefinitions"][0]["image"])

    def revisions(self) -> int:
        return len(self.ecs.list_task_definitions(familyPrefix="web")["taskDefinitionArns"])


@pytest.fixture
def world(stack: Any, write_config: Any, function_env: Any) -> World:
    """Image web:2.1.0 in ECR (its push event never arrived), service prod/web on web:2.0.0, a target taking ^2.0."""
    ecr = boto3.client("ecr", region_name=REGION)
    ecs = boto3.client("ecs", region_name=REGION)
    ecr.create_repository(repositoryName="web")
    image = ecr.put_image(repositoryName="web", imageManifest=image_manifest("web:2.1.0"), imageTag="2.1.0")["image"]
    digest = image["imageId"]["imageDigest"]
    ecs.create_cluster(clusterName="prod")
    td = ecs.register_task_definition(
        family="web", containerDefinitions=[{"name": "web", "image": f"{REGISTRY}/web:2.0.0", "memory": 256}]
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(cluster="prod", serviceName="web", taskDefinition=td, desiredCount=1)
    path = write_config(
        {"deploy": {"targets": [{"repository": "web", "tags": "semver:^2.0", "cluster": "prod", "services": ["web"]}]}}
    )
    function_env("DeployerFunction", path)
    return World(stack, path, digest, ecs, boto3.client("sqs", region_name=REGION))


def test_deploy_puts_the_push_event_on_the_deploy_queue(world: World) -> None:
    # Given an image in ECR whose push event was missed
    # When a person runs `dockhand deploy web 2.1.0` (the queue: the stack `dockhand`'s output DeployQueueUrl)
    result = world.deploy("web", "2.1.0")
    # Then exactly one message waits in the deploy queue, in the rule's FIFO group, deduplicated by the event id
    assert result.exit_code == 0, result.output
    messages = world.messages()
    assert len(messages) == 1
    push = EcrImageAction.model_validate_json(messages[0]["Body"])
    assert (push.detail.repository_name, push.detail.image_tag, push.detail.image_digest) == (
        "web",
        "2.1.0",
        world.digest,
    )
    assert (push.detail.result, push.detail.action_type, push.account, push.region) == (
        "SUCCESS",
        "PUSH",
        ACCOUNT,
        REGION,
    )
    assert push.id.startswith("manual-")
    assert messages[0]["Attributes"]["MessageGroupId"] == "ecr-push"
    assert messages[0]["Attributes"]["MessageDeduplicationId"] == push.id
    # And the command says what it sent
    assert world.digest in result.output and push.id in result.output


def test_the_replayed_push_deploys_like_a_real_one(world: World) -> None:
    # Given a replayed push waiting in the deploy queue
    assert world.deploy("web", "2.1.0").exit_code == 0
    message = world.messages()[0]
    # When the deployer receives it
    response = world.deliver(message)
    # Then the service runs the image pinned by digest, and nothing failed
    assert response["batchItemFailures"] == []
    assert world.service_image() == f"{REGISTRY}/web@{world.digest}"


def test_replaying_a_push_twice_deploys_it_once(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    # Given the push replayed and deployed
    world.deploy("web", "2.1.0")
    first = world.messages()[0]
    world.deliver(first)
    world.sqs.delete_message(QueueUrl=world.queue_url, ReceiptHandle=first["ReceiptHandle"])
    revisions = world.revisions()
    # When it is replayed again (a second event id) and delivered
    world.deploy("web", "2.1.0")
    second = world.messages()[0]
    assert json.loads(second["Body"])["id"] != json.loads(first["Body"])["id"]
    capsys.readouterr()
    response = world.deliver(second)
    # Then the ledger knows the digest: skipped as already running, no new revision, the service keeps it
    assert response["batchItemFailures"] == []
    assert metric_total(capsys.readouterr().out, "DeploySkipped", reason="already_running") == 1
    assert world.revisions() == revisions
    assert world.service_image() == f"{REGISTRY}/web@{world.digest}"


def test_deploy_of_an_unknown_tag_exits_1_and_sends_nothing(world: World) -> None:
    # Given no image tagged 9.9.9
    # When it is deployed
    result = world.deploy("web", "9.9.9")
    # Then the command fails naming repository and tag, and the queue stays empty
    assert result.exit_code == 1
    assert "web:9.9.9" in result.output
    assert world.messages() == []


def test_deploy_without_the_stack_says_which_stack_where_and_what_to_do(world: World) -> None:
    # Given no stack `dockhand` in CloudFormation
    boto3.client("cloudformation", region_name=REGION).delete_stack(StackName="dockhand")
    # When a push is replayed
    result = world.deploy("web", "2.1.0")
    # Then it exits 2 with one line naming the stack, the Region and what to do, and sends nothing
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "stack 'dockhand' not found in us-east-1: deploy Dockhand there (sam deploy), or start `dockhand local up` "
        'and run `eval "$(dockhand local env)"`, or name the stack with --stack or DOCKHAND_STACK'
    ]
    assert world.messages() == []
