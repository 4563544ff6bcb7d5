"""Many accounts and Regions: a push in Dockhand's account deploys staging in account A; after the bake and an
approval the same digest deploys production in account B, in another Region, through the role declared for each
account (assumed with its external id, the session named after the push). A role that cannot be assumed fails its
services with a notification, changes nothing, and is not retried."""

from __future__ import annotations

import ast
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.integration.accounts_helpers import (
    ACCOUNT_A,
    ACCOUNT_B,
    EXTERNAL_ID,
    REGION_A,
    REGION_B,
    AccountsWalk,
    accounts,
    assumed_sessions,
    enforce_trust,
    role_arn,
)
from tests.integration.promotion_helpers import APPROVER, DIGEST, REGISTRY

SESSION = f"dockhand-web-{DIGEST.removeprefix('sha256:')[:12]}"


def targets() -> list[dict[str, Any]]:
    staging = {"name": "web-staging", "repository": "web", "tags": "semver:^1.0", "stage": "staging"}
    prod = {"name": "web-prod", "repository": "web", "stage": "production", "promote_from": "staging"}
    return [
        staging | {"account": "staging-account", "region": REGION_A, "cluster": "staging", "services": ["web"]},
        prod
        | {
            "account": "production-account",
            "region": REGION_B,
            "registry": REGISTRY,  # the central registry, in another Region than production
            "cluster": "prod",
            "services": ["web"],
            "bake_minutes": 10,
            "approval": {"approvers": [APPROVER], "expires_minutes": 60},
        },
    ]


@pytest.fixture
def walk_accounts(stack: Any, time_machine: Any, function_env: Any, write_config: Any, monkeypatch: Any) -> Any:
    time_machine.move_to(datetime.now(UTC), tick=False)

    def make(external_id: str = EXTERNAL_ID, role_a: str = "") -> AccountsWalk:
        declared = accounts(external_id, role_a)
        config = write_config({"accounts": declared, "deploy": {"targets": targets()}, "notifications": {"sns": True}})
        w = AccountsWalk(stack, time_machine, function_env, config)
        enforce_trust(monkeypatch)
        return w

    return make


def _approve(w: AccountsWalk) -> None:
    from dockhand.promote.approvals import decide
    from functions.watcher import app

    w.function_env("WatcherFunction", w.config)
    assert decide(app.promoter(), "web", DIGEST, "production", "approve", APPROVER).ok


def test_a_push_walks_from_staging_in_account_a_to_production_in_account_b(walk_accounts) -> None:
    # Given staging in account A (us-east-1) and production in account B (eu-west-1), each through its role
    w = walk_accounts()
    # When web 1.1.0 is pushed to the central registry in Dockhand's account
    w.push("1.1.0")
    # Then staging in account A runs it, pinned to the central registry; production does not yet
    assert w.image("staging") == f"{REGISTRY}/web@{DIGEST}"
    assert w.image("prod") == f"{REGISTRY}/web:1.0.0"
    # And account A's role was assumed with its external id, the session named after the push
    assert assumed_sessions(ACCOUNT_A) == [(role_arn(ACCOUNT_A), SESSION, EXTERNAL_ID)]
    # When staging's deployment completes in account A, the bake ends clean and an approver approves
    w.completed("staging")
    w.later(10 * 60)
    assert w.promotion().status == "awaiting_approval"
    _approve(w)
    w.later(1)
    released = w.to_deployer()
    # Then the same digest runs in production in account B, in eu-west-1, through account B's role
    assert [b["digest"] for b in released] == [DIGEST]
    assert w.image("prod") == f"{REGISTRY}/web@{DIGEST}"
    assert w.promotion().status == "deployed"
    assert assumed_sessions(ACCOUNT_B) == [(role_arn(ACCOUNT_B), SESSION, EXTERNAL_ID)]
    # And the ledger, in Dockhand's account, knows both services by their own account's ARN
    assert w.deployment_id("staging") and w.deployment_id("prod")


@pytest.mark.parametrize(
    "declared",
    [
        pytest.param({"external_id": "not-the-trusted-one"}, id="wrong external id"),
        pytest.param({"role_a": f"arn:aws:iam::{ACCOUNT_A}:role/no-such-role"}, id="missing role"),
    ],
)
def test_a_role_that_cannot_be_assumed_fails_its_services_once_and_changes_nothing(
    walk_accounts, declared: dict[str, str]
) -> None:
    # Given account A's role cannot be assumed as declared
    w = walk_accounts(**declared)
    # When web 1.1.0 is pushed (the record is handled, not handed back for a retry: push() asserts it)
    w.push("1.1.0")
    # Then staging in account A still runs what it ran, and nothing was assumed there
    assert w.image("staging") == f"{REGISTRY}/web:1.0.0"
    assert assumed_sessions(ACCOUNT_A) == []
    # And the failure is told once, naming the role and what to check
    failed = [n for n in w.inbox.sns() if n["attributes"]["kind"] == "deploy_failed"]
    assert len(failed) == 1
    body = str(failed[0]["body"])
    assert (declared.get("role_a") or role_arn(ACCOUNT_A)) in body and "external id" in body
    assert "AccessDenied" in body


def test_the_workload_template_makes_the_role_and_forwards_ecs_events_to_dockhands_bus(moto_aws: None) -> None:
    # Given workload-account/template.yaml created by CloudFormation in account B (moto keeps the accounts apart)
    from tests.integration.accounts_helpers import BUS, ROLE, in_account, workload_stack

    workload_stack(ACCOUNT_B, REGION_B)
    iam = in_account(ACCOUNT_B, "iam", REGION_B)
    events = in_account(ACCOUNT_B, "events", REGION_B)
    # Then the role trusts Dockhand's account on the external id only
    role = iam.get_role(RoleName=ROLE)["Role"]
    assert role["Arn"] == role_arn(ACCOUNT_B)
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"AWS": "arn:aws:iam::123456789012:root"}
    assert trust["Condition"] == {"StringEquals": {"sts:ExternalId": EXTERNAL_ID}}
    # And its policy grants ECS work in this account only, and passes roles to ECS tasks only
    document = iam.get_role_policy(RoleName=ROLE, PolicyName="dockhand-ecs")["PolicyDocument"]
    if isinstance(document, str):  # moto's CloudFormation stores an inline policy as the text of a Python dict
        document = ast.literal_eval(document)
    by_sid = {s["Sid"]: s for s in document["Statement"]}
    assert by_sid["ReadAndUpdateServices"]["Resource"] == f"arn:aws:ecs:*:{ACCOUNT_B}:service/*/*"
    assert by_sid["PassTaskRoles"]["Condition"] == {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}
    # And the rule sends ECS task, deployment and service events to Dockhand's bus, with a role EventBridge assumes
    (rule,) = [r for r in events.list_rules()["Rules"] if "EcsEventsToDockhand" in r["Name"]]
    pattern = json.loads(rule["EventPattern"])
    assert pattern["source"] == ["aws.ecs"]
    assert set(pattern["detail-type"]) == {
        "ECS Task State Change",
        "ECS Deployment State Change",
        "ECS Service Action",
    }
    (target,) = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
    assert target["Arn"] == BUS and ":role/" in target["RoleArn"]
