"""`dockhand plan REPOSITORY TAG`: the deployer's plan from a terminal, changing nothing."""

from __future__ import annotations

from typing import Any

import boto3
from typer.testing import CliRunner

from dockhand_cli.main import app
from dockhand_local.images import image_manifest

REGION = "us-east-1"
ACCOUNT = "123456789012"
REGISTRY = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"


def _world(stack: Any) -> tuple[Any, str]:
    ecr = boto3.client("ecr", region_name=REGION)
    ecs = boto3.client("ecs", region_name=REGION)
    ecr.create_repository(repositoryName="web")
    digest = ecr.put_image(repositoryName="web", imageManifest=image_manifest("web:2.1.0"), imageTag="2.1.0")["image"][
        "imageId"
    ]["imageDigest"]
    ecs.create_cluster(clusterName="prod")
    td = ecs.register_task_definition(
        family="web",
        containerDefinitions=[
            {"name": "web", "image": f"{REGISTRY}/web:2.0.0", "memory": 256},
            {"name": "envoy", "image": "public.ecr.aws/appmesh/aws-appmesh-envoy:v1", "memory": 64},
        ],
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(cluster="prod", serviceName="web", taskDefinition=td, desiredCount=1)
    return ecs, digest


def test_plan_shows_the_diff_and_changes_nothing(stack, write_config, monkeypatch) -> None:
    # Given a service, an image in ECR and a target taking ^2.0
    ecs, digest = _world(stack)
    monkeypatch.setenv("DOCKHAND_TABLE", stack.table_name)
    path = write_config(
        {"deploy": {"targets": [{"repository": "web", "tags": "semver:^2.0", "cluster": "prod", "services": ["web"]}]}}
    )
    # When `dockhand plan web 2.1.0` runs (digest looked up in ECR)
    result = CliRunner().invoke(app, ["plan", "web", "2.1.0", "--config", str(path)], env={"COLUMNS": "200"})
    # Then it shows the planned service and the image change, and no revision was registered
    assert result.exit_code == 0, result.output
    assert "planned" in result.output
    assert f"~ containerDefinitions[web].image: {REGISTRY}/web:2.0.0 → {REGISTRY}/web@{digest}" in result.output
    assert "envoy" not in result.output
    assert len(ecs.list_task_definitions(familyPrefix="web")["taskDefinitionArns"]) == 1


def test_plan_of_a_tag_outside_the_policy_says_so(stack, write_config) -> None:
    # Given a target taking ^3.0 only
    _world(stack)
    path = write_config(
        {"deploy": {"targets": [{"repository": "web", "tags": "semver:^3.0", "cluster": "prod", "services": ["web"]}]}}
    )
    # When 2.1.0 is planned with an explicit digest
    result = CliRunner().invoke(
        app,
        ["plan", "web", "2.1.0", "--digest", "sha256:" + "a" * 64, "--account", ACCOUNT, "--config", str(path)],
        env={"COLUMNS": "200"},
    )
    # Then the service is skipped by the tag policy
    assert result.exit_code == 0, result.output
    assert "tag_policy" in result.output
