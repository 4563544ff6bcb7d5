"""`dockhand status | promote | approve | reject`: the CLI finds the stack by its outputs, speaks as the caller's IAM
principal, and the watcher and deployer do the rest (the real handlers, the stack in moto)."""

from __future__ import annotations

import json
from typing import Any

import boto3
from typer.testing import CliRunner

from dockhand_cli.main import app
from tests.integration.promotion_helpers import ACCOUNT, APPROVER, DIGEST, REGION, REGISTRY, Walk


def as_role(role: str, session: str) -> dict[str, str]:
    """The environment of someone who assumed `role` (moto's STS knows the session by its keys)."""
    iam = boto3.client("iam", region_name=REGION)
    arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    creds = boto3.client("sts", region_name=REGION).assume_role(RoleArn=arn, RoleSessionName=session)["Credentials"]
    return {
        "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
        "AWS_SESSION_TOKEN": creds["SessionToken"],
        "COLUMNS": "250",
    }


def cli(w: Walk, *args: str, env: dict[str, str] | None = None) -> Any:
    """The command as a new process runs it: its own session, from the environment it is given."""
    from dockhand.aws import clients

    clients.reset()
    return CliRunner().invoke(app, [*args, "--config", str(w.config)], env=env or {"COLUMNS": "250"})


def test_status_says_what_runs_where_and_what_waits_on_what(walk) -> None:
    # Given 1.1.0 completed in staging and bakes toward production
    w = walk()
    w.push("1.1.0")
    w.completed("staging")
    # When a person asks for the status of web
    result = CliRunner().invoke(app, ["status", "web"])
    # Then it says what staging runs, and what production's promotion waits on, since when
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(line.startswith(f"staging: runs web:1.1.0 {DIGEST} since ") for line in lines), result.output
    assert any(
        line.startswith(f"staging -> production: web:1.1.0 {DIGEST} baking since ")
        and line.endswith("waiting on the bake in staging (30 min)")
        for line in lines
    ), result.output


def test_promote_skips_the_bake_and_deploys_production(walk) -> None:
    # Given 1.1.0 completed in staging a minute ago (its bake has 29 minutes to go)
    w = walk()
    w.push("1.1.0")
    w.completed("staging")
    w.later(60)
    # When a person promotes it to production
    result = cli(w, "promote", "web", DIGEST, "--to", "production")
    assert result.exit_code == 0, result.output
    assert "asked to promote web@" in result.output
    w.later(1)
    # Then the digest is released at once and production runs it
    assert [b["stage"] for b in w.to_deployer()] == ["production"]
    assert w.image("prod") == f"{REGISTRY}/web@{DIGEST}"
    status = CliRunner().invoke(app, ["status", "web"]).output
    assert f"staging -> production: web:1.1.0 {DIGEST} deployed" in status


def test_promote_refuses_a_stage_that_is_not_promoted_and_a_bad_digest(walk) -> None:
    w = walk()
    wrong_stage = cli(w, "promote", "web", DIGEST, "--to", "staging")
    assert wrong_stage.exit_code == 2 and "has no stage 'staging' promoted from another" in wrong_stage.output
    bad_digest = cli(w, "promote", "web", "sha256:nope", "--to", "production")
    assert bad_digest.exit_code == 2 and "DIGEST: expected sha256:" in bad_digest.output


def test_approve_as_a_declared_role_releases_and_another_principal_changes_nothing(walk) -> None:
    # Given production waits for an approval by the role Releaser, after a clean bake
    w = walk(approval={"approvers": [APPROVER]}, bake_minutes=5)
    w.push("1.1.0")
    w.completed("staging")
    w.later(5 * 60)
    assert w.promotion().status == "awaiting_approval"
    # When someone in another role rejects it
    refused = cli(w, "reject", "web", DIGEST, "--stage", "production", env=as_role("Intern", "bob"))
    # Then the CLI says they are not an approver, and nothing changes
    assert refused.exit_code == 1
    assert f"arn:aws:sts::{ACCOUNT}:assumed-role/Intern/bob is not among the approvers" in refused.output
    assert w.promotion().status == "awaiting_approval"
    # When a session of the declared role approves
    approved = cli(w, "approve", "web", DIGEST, "--stage", "production", env=as_role("Releaser", "alice"))
    assert approved.exit_code == 0, approved.output
    assert f"Approved by arn:aws:sts::{ACCOUNT}:assumed-role/Releaser/alice" in approved.output
    w.later(1)
    # Then production is deployed
    assert [b["stage"] for b in w.to_deployer()] == ["production"]
    assert w.image("prod") == f"{REGISTRY}/web@{DIGEST}"


def test_promote_walks_a_digest_staging_completed_before_production_was_declared(walk) -> None:
    import yaml

    # Given staging completed 1.1.0 while production was not declared yet (no promotion was started)
    w = walk()
    declared = yaml.safe_load(w.config.read_text())
    staging_only = {**declared, "deploy": {"targets": declared["deploy"]["targets"][:1]}}
    w.config.write_text(yaml.safe_dump(staging_only))
    w.push("1.1.0")
    w.completed("staging")
    assert w.promotion() is None
    # When production is declared and a person promotes the digest to it
    w.config.write_text(yaml.safe_dump(declared))
    assert cli(w, "promote", "web", DIGEST, "--to", "production").exit_code == 0
    w.later(1)
    # Then the digest walks to production like one that baked
    assert [b["stage"] for b in w.to_deployer()] == ["production"]
    assert w.image("prod") == f"{REGISTRY}/web@{DIGEST}"


def test_promote_refuses_a_digest_the_earlier_stage_never_completed(walk) -> None:
    # Given staging deployed 1.1.0 but its deployment has not completed
    w = walk()
    w.push("1.1.0")
    # When a person promotes it to production
    assert cli(w, "promote", "web", DIGEST, "--to", "production").exit_code == 0
    w.later(1)
    # Then nothing is released, no promotion is recorded, and the refusal says why
    assert w.to_deployer() == []
    assert w.promotion() is None
    refused = [n for n in w.notes() if n["kind"] == "promotion_stopped"]
    assert len(refused) == 1 and "staging never completed a deployment of" in json.dumps(refused[0]["body"])


def test_promote_overrides_a_walk_stopped_by_a_failure_during_the_bake(walk) -> None:
    # Given the walk of 1.1.0 stopped: a staging task failed during the bake
    w = walk(bake_minutes=5)
    w.push("1.1.0")
    w.completed("staging")
    w.task_failed("staging")
    w.later(5 * 60)
    assert w.promotion().status == "stopped"
    # When a person promotes it anyway
    assert cli(w, "promote", "web", DIGEST, "--to", "production").exit_code == 0
    w.later(1)
    # Then it is released and deployed, and says who promoted it
    assert [b["stage"] for b in w.to_deployer()] == ["production"]
    assert w.image("prod") == f"{REGISTRY}/web@{DIGEST}"
    released = [n for n in w.notes() if n["kind"] == "promotion_released"]
    assert len(released) == 1 and "promoted by arn:aws:sts::" in json.dumps(released[0]["body"])


def test_status_shows_a_traffic_gate_the_hook_holds(walk) -> None:
    # Given production (blue/green) deployed behind a traffic gate that waits for an approval, and ECS called the hook
    w = walk(bake_minutes=1, traffic_gate={"approval": {"approvers": [APPROVER]}})
    w.deployed_to_production()
    assert w.hook()["hookStatus"] == "IN_PROGRESS"
    # When a person asks for the status of web
    result = CliRunner().invoke(app, ["status", "web"], env={"COLUMNS": "250"})
    # Then the gate is there: what it holds, since when, waiting on whom
    assert result.exit_code == 0, result.output
    gate = [line for line in result.output.splitlines() if line.startswith("traffic gate of production: ")]
    assert gate == [
        f"traffic gate of production: web:1.1.0 {DIGEST} awaiting_approval since {w.gate().since}: "
        f"waiting on an approval by {APPROVER}"
    ], result.output
    # And `dockhand approve` answers the gate: the hook's next call lets traffic in
    approved = cli(w, "approve", "web", DIGEST, "--stage", "production", env=as_role("Releaser", "alice"))
    assert approved.exit_code == 0, approved.output
    assert w.hook() == {"hookStatus": "SUCCEEDED"}
    status = CliRunner().invoke(app, ["status", "web"], env={"COLUMNS": "250"}).output
    assert f"traffic gate of production: web:1.1.0 {DIGEST} passed since " in status
