"""A world of three accounts for the many-accounts tests: Dockhand's (the tooling account, which also holds the
central registry), account A (staging, us-east-1) and account B (production, eu-west-1). moto keeps each account
apart: calls made with the credentials of a role assumed in A land in A.

moto's AssumeRole hands out credentials for any role, with any external id. `enforce_trust` stands in for what STS
checks: the role exists in its account, and its trust policy's `sts:ExternalId` condition names the external id
given. It is registered the way moto registers itself, as a handler every new botocore session gets.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import boto3
import pytest

from tests.integration.promotion_helpers import ACCOUNT, REGISTRY, Walk

ACCOUNT_A, REGION_A = "111111111111", "us-east-1"
ACCOUNT_B, REGION_B = "222222222222", "eu-west-1"
ROLE = "dockhand-workload"
EXTERNAL_ID = "dockhand-7f3c9e"
PLACES = {"staging": (ACCOUNT_A, REGION_A), "prod": (ACCOUNT_B, REGION_B)}
BUS = f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/default"
WORKLOAD_TEMPLATE = Path(__file__).resolve().parents[2] / "workload-account" / "template.yaml"


def role_arn(account: str) -> str:
    return f"arn:aws:iam::{account}:role/{ROLE}"


def accounts(external_id: str = EXTERNAL_ID, role_a: str = "") -> dict[str, Any]:
    """The `accounts` section naming A and B, each with its role and external id."""
    return {
        "staging-account": {"id": ACCOUNT_A, "role": role_a or role_arn(ACCOUNT_A), "external_id": external_id},
        "production-account": {"id": ACCOUNT_B, "role": role_arn(ACCOUNT_B), "external_id": external_id},
    }


def in_account(account: str, service: str, region: str) -> Any:
    """A client acting in `account` (an administrator's role there, as the tests set the world up)."""
    sts = boto3.client("sts", region_name="us-east-1")
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/Admin", RoleSessionName="setup")["Credentials"]
    return boto3.client(
        service,
        region_name=region,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


def workload_stack(account: str, region: str, external_id: str = EXTERNAL_ID, *, create_role: bool = True) -> Any:
    """workload-account/template.yaml, created by CloudFormation in `account` and `region` (an administrator's role
    there does it, trusting the tooling account). Returns that account's CloudFormation client."""
    admin = {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}
    iam = in_account(account, "iam", "us-east-1")
    if not any(r["RoleName"] == "Admin" for r in iam.list_roles()["Roles"]):
        iam.create_role(
            RoleName="Admin", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [admin]})
        )
    cfn = in_account(account, "cloudformation", region)
    parameters = {
        "DockhandAccountId": ACCOUNT,
        "ExternalId": external_id,
        "DockhandBusArn": BUS,
        "RoleName": ROLE,
        "CreateRole": str(create_role).lower(),
    }
    cfn.create_stack(
        StackName="dockhand-workload",
        TemplateBody=WORKLOAD_TEMPLATE.read_text(encoding="utf-8"),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )
    return cfn


def _trusted(params: dict[str, Any], **_: Any) -> None:
    from botocore.exceptions import ClientError
    from moto.iam.models import iam_backends

    arn = str(params.get("RoleArn", ""))
    account, name = arn.split(":")[4], arn.rsplit("/", 1)[-1]
    roles = {r.name: r for r in iam_backends[account]["aws"].roles.values()}
    role = roles.get(name)
    allowed: set[str] = set()
    if role is not None:
        for statement in json.loads(unquote(role.assume_role_policy_document))["Statement"]:
            allowed.add(statement.get("Condition", {}).get("StringEquals", {}).get("sts:ExternalId"))
    if params.get("ExternalId") not in allowed:
        denied = {"Error": {"Code": "AccessDenied", "Message": f"Not authorized to perform sts:AssumeRole on {arn}"}}
        raise ClientError(denied, "AssumeRole")


def enforce_trust(monkeypatch: pytest.MonkeyPatch) -> None:
    """From now on, botocore sessions refuse an AssumeRole that STS would refuse (see the module's words)."""
    import botocore.handlers

    handlers = [*botocore.handlers.BUILTIN_HANDLERS, ("before-parameter-build.sts.AssumeRole", _trusted)]
    monkeypatch.setattr(botocore.handlers, "BUILTIN_HANDLERS", handlers)


class AccountsWalk(Walk):
    """The promotion walk of promotion_helpers, with staging in account A and production in account B."""

    def __init__(self, stack: Any, clock: Any, function_env: Callable[..., Any], config: Any) -> None:
        from dockhand_local.images import image_manifest
        from tests.integration.test_watcher import Inbox

        self.stack, self.clock, self.function_env, self.config = stack, clock, function_env, config
        self.inbox = Inbox(stack, clock)
        self.sqs = boto3.client("sqs", region_name="us-east-1")
        ecr = boto3.client("ecr", region_name="us-east-1")  # the central registry, in the tooling account
        ecr.create_repository(repositoryName="web")
        ecr.put_image(repositoryName="web", imageTag="1.0.0", imageManifest=image_manifest("web:1.0.0"))
        for cluster, (account, _) in PLACES.items():
            workload_stack(account, PLACES[cluster][1])
            ecs = self.ecs_in(cluster)
            ecs.create_cluster(clusterName=cluster)
            td = ecs.register_task_definition(
                family=f"web-{cluster}",
                containerDefinitions=[{"name": "web", "image": f"{REGISTRY}/web:1.0.0", "memory": 256}],
            )["taskDefinition"]["taskDefinitionArn"]
            ecs.create_service(cluster=cluster, serviceName="web", taskDefinition=td, desiredCount=1)
        self._n = 0

    def ecs_in(self, cluster: str) -> Any:
        account, region = PLACES[cluster]
        return in_account(account, "ecs", region)

    def service_arn(self, cluster: str) -> str:
        account, region = PLACES[cluster]
        return f"arn:aws:ecs:{region}:{account}:service/{cluster}/web"

    def image(self, cluster: str) -> str:
        ecs = self.ecs_in(cluster)
        svc = ecs.describe_services(cluster=cluster, services=["web"])["services"][0]
        td = ecs.describe_task_definition(taskDefinition=svc["taskDefinition"])["taskDefinition"]
        return str(td["containerDefinitions"][0]["image"])

    def deployment_id(self, cluster: str) -> str:
        from dockhand import deps
        from dockhand.state.ledger import Ledger

        return str(Ledger(deps.table()).read(self.service_arn(cluster)).deployment_id)

    def completed(self, cluster: str, name: str = "ecs-deployment-completed", at: Any = None) -> dict[str, Any]:
        """ECS in the cluster's account says the deployment Dockhand started there completed (now, by default); the
        workload account's rule forwarded the event to Dockhand's bus, so it carries that account and Region."""
        from datetime import UTC, datetime

        from tests.support.events import load_event, with_detail

        account, region = PLACES[cluster]
        now = (at or datetime.now(UTC)).isoformat(timespec="seconds").replace("+00:00", "Z")
        event = with_detail(load_event(name), deploymentId=self.deployment_id(cluster), updatedAt=now)
        event.update(time=now, region=region, account=account, resources=[self.service_arn(cluster)])
        return self.watcher(event)


def assumed_sessions(account: str) -> list[tuple[str, str, str]]:
    """(role, session name, external id) of every AssumeRole of Dockhand's role in `account` that was granted."""
    from moto.sts.models import sts_backends

    granted = sts_backends[account]["aws"].assumed_roles
    return [(r.role_arn, r.session_name, r.external_id) for r in granted if r.role_arn == role_arn(account)]
