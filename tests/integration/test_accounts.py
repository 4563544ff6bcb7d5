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
    in_account,
    role_arn,
)
from tests.integration.promotion_helpers import APPROVER, DIGEST, REGISTRY, web_5xx_alarm
from tests.integration.test_watcher import inbox, slack, watcher

__all__ = ["inbox", "slack", "watcher"]  # the watcher tests' fixtures

SESSION = f"dockhand-web-{DIGEST.removeprefix('sha256:')[:12]}"


def targets(alarms: list[str] | None = None) -> list[dict[str, Any]]:
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
            "alarms": alarms or [],
        },
    ]


@pytest.fixture
def walk_accounts(stack: Any, time_machine: Any, function_env: Any, write_config: Any, monkeypatch: Any) -> Any:
    time_machine.move_to(datetime.now(UTC), tick=False)

    def make(external_id: str = EXTERNAL_ID, role_a: str = "", alarms: list[str] | None = None) -> AccountsWalk:
        declared = accounts(external_id, role_a)
        deploy = {"targets": targets(alarms)}
        config = write_config({"accounts": declared, "deploy": deploy, "notifications": {"sns": True}})
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


def _restart_world(watcher: Any, external_id: str) -> tuple[Any, Any, dict[str, Any]]:
    """An opted-in standalone task family in account A, whose ECS events reach Dockhand's bus; the watcher with A
    declared (its external id as given); the STOPPED event of A's failed task, as forwarded."""
    from tests.integration.accounts_helpers import in_account, workload_stack
    from tests.integration.test_watcher import stopped
    from tests.support.fargate import launchable_network, register_fargate_family

    workload_stack(ACCOUNT_A, REGION_A)
    subnet, sg = launchable_network(in_account(ACCOUNT_A, "ec2", REGION_A), "nightly", cidr="10.9")
    ecs = in_account(ACCOUNT_A, "ecs", REGION_A)
    cluster = ecs.create_cluster(clusterName="batch")["cluster"]["clusterArn"]
    td = register_fargate_family(ecs, "nightly", container="job", image="nightly:1")
    network = {"subnets": [subnet], "security_groups": [sg]}
    handle = watcher(
        accounts=accounts(external_id),
        watch={"restart": {"families": ["nightly"], "backoff_seconds": 30, "network": network}},
    )
    task = {"taskArn": f"arn:aws:ecs:{REGION_A}:{ACCOUNT_A}:task/batch/{'e' * 32}", "startedBy": "cron"}
    event = stopped(task, {"cluster": cluster, "td": td}) | {"account": ACCOUNT_A, "region": REGION_A}
    return handle, ecs, event


def test_a_failed_task_in_account_a_is_restarted_there_through_its_role(watcher, inbox, monkeypatch) -> None:
    # Given an opted-in standalone task family in account A
    from tests.integration.test_watcher import restarts_in

    handle, ecs, event = _restart_world(watcher, EXTERNAL_ID)
    enforce_trust(monkeypatch)
    # When its task fails (the event forwarded from account A carries that account) and the backoff passes
    assert handle(event)["batchItemFailures"] == []
    restarts = restarts_in(inbox.after(30))
    assert len(restarts) == 1
    assert handle(*restarts)["batchItemFailures"] == []
    # Then the task runs again in account A, launched through A's role by the watcher's session
    launched = ecs.list_tasks(cluster="batch")["taskArns"]
    assert len(launched) == 1 and f":{ACCOUNT_A}:task/batch/" in launched[0]
    assert (role_arn(ACCOUNT_A), "dockhand-watch", EXTERNAL_ID) in assumed_sessions(ACCOUNT_A)


def test_a_restart_whose_role_cannot_be_assumed_is_told_and_not_retried(watcher, inbox, monkeypatch) -> None:
    # Given account A declared with an external id its role does not trust
    from tests.integration.test_watcher import restarts_in

    handle, ecs, event = _restart_world(watcher, "not-the-trusted-one")
    enforce_trust(monkeypatch)
    # When its task fails: the failure is still told (without its task definition), and a restart scheduled
    assert handle(event)["batchItemFailures"] == []
    restarts = restarts_in(inbox.after(30))
    # And the restart's time comes
    assert handle(*restarts)["batchItemFailures"] == []
    # Then nothing runs in account A, and the launch's failure names the role
    assert ecs.list_tasks(cluster="batch")["taskArns"] == []
    failed = [n for n in inbox.sns() if "restart 1 failed to launch" in json.dumps(n["body"])]
    assert len(failed) == 1 and role_arn(ACCOUNT_A) in json.dumps(failed[0]["body"])
    # And a redelivery of the same restart launches nothing and tells nothing again
    assert handle(*restarts)["batchItemFailures"] == []
    assert len([n for n in inbox.sns() if "failed to launch" in json.dumps(n["body"])]) == 1


def test_a_job_runs_in_account_b_and_its_completion_comes_back_through_the_bus(
    stack, function_env, write_config, lambda_context, monkeypatch
) -> None:
    # Given a job declared in account B (eu-west-1), its cluster, network and task family there
    from dockhand.batch import spec
    from tests.integration.accounts_helpers import in_account, workload_stack
    from tests.integration.batch_helpers import BatchWorld, tasks_stay_running
    from tests.support.events import job_task_stopped
    from tests.support.fargate import launchable_network, register_fargate_family

    workload_stack(ACCOUNT_B, REGION_B)
    with tasks_stay_running():
        world = BatchWorld(stack, function_env, write_config, lambda_context)
        ecs_b = in_account(ACCOUNT_B, "ecs", REGION_B)
        subnet, sg = launchable_network(in_account(ACCOUNT_B, "ec2", REGION_B), "jobs")
        ecs_b.create_cluster(clusterName="demo")
        register_fargate_family(ecs_b, "report")
        job = world.job(account="production-account", region=REGION_B)
        job["network"] = {"subnets": [subnet], "security_groups": [sg]}
        world.declare(job, accounts=accounts())
        enforce_trust(monkeypatch)
        # When its schedule fires
        assert world.fire("report", datetime(2026, 11, 29, 2, 0, tzinfo=UTC)) == {"batchItemFailures": []}
        # Then its task runs in account B, launched through B's role by the batch session; none in Dockhand's
        (task_arn,) = ecs_b.list_tasks(cluster="demo")["taskArns"]
        assert f":{ACCOUNT_B}:task/demo/" in task_arn and REGION_B in task_arn
        assert world.tasks() == []
        assert (role_arn(ACCOUNT_B), "dockhand-batch", EXTERNAL_ID) in assumed_sessions(ACCOUNT_B)
        (run,) = world.runs()
        assert run.status == "running" and run.task_arn == task_arn
        # When the task exits 0 in account B, and account B's rule forwards its STOPPED event to Dockhand's bus
        ecs_b.stop_task(cluster="demo", task=task_arn, reason="Essential container in task exited")
        task = ecs_b.describe_tasks(cluster="demo", tasks=[task_arn])["tasks"][0]
        event = job_task_stopped(task, 0, "Essential container in task exited", "EssentialContainerExited")
        event.update(account=ACCOUNT_B, region=REGION_B)
        assert task["startedBy"] == spec.started_by("report", run.run_id, 1)
        assert world.deliver(event) == {"batchItemFailures": []}
    # Then the run succeeded, and said so
    (run,) = world.runs()
    assert run.status == "succeeded"
    assert "job_succeeded" in world.kinds(world.notifications())


@pytest.mark.parametrize("state", ["OK", "ALARM"])
def test_the_alarms_a_stage_names_are_read_where_the_earlier_stage_runs(walk_accounts, state: str) -> None:
    # Given production names the alarm web-staging-5xx, which lives with staging: account A, its Region
    w = walk_accounts(alarms=["web-staging-5xx"])
    web_5xx_alarm(state, in_account(ACCOUNT_A, "cloudwatch", REGION_A), "web-staging-5xx")
    # When 1.1.0 is pushed, staging completes in account A, and the bake ends
    w.push("1.1.0")
    w.completed("staging")
    w.later(10 * 60)
    # Then the alarm was read in account A through its role: OK lets the walk go on, ALARM stops it, saying so
    rec = w.promotion()
    if state == "OK":
        assert rec.status == "awaiting_approval", rec.reason
    else:
        assert rec.status == "stopped" and rec.reason == "alarm web-staging-5xx is ALARM"
    assert (role_arn(ACCOUNT_A), "dockhand-alarms", EXTERNAL_ID) in assumed_sessions(ACCOUNT_A)
