"""Stages and promotion end to end: a push deploys staging; the deployment's completion starts a bake; its end
verifies staging and releases the digest to the deployer, which deploys production through the same ledger — or the
walk stops and says why. The real deployer and watcher handlers, the stack in moto, SNS captured by a queue."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import boto3

from tests.integration.promotion_helpers import (
    ACCOUNT,
    APPROVER,
    DIGEST,
    NEWER,
    REGION,
    REGISTRY,
    Walk,
    web_5xx_alarm,
)


def kinds(notes: list[dict[str, Any]]) -> list[str]:
    return [n["kind"] for n in notes]


def test_a_clean_bake_promotes_the_same_digest_to_production_once(walk) -> None:
    # Given web 1.1.0 pushed and deployed to staging (production takes no pushes)
    w = walk()
    w.push("1.1.0")
    assert w.image("staging") == f"{REGISTRY}/web@{DIGEST}"
    assert w.image("prod") == f"{REGISTRY}/web:1.0.0"
    # When staging's deployment completes (delivered twice)
    w.completed("staging")
    w.completed("staging")
    # Then production's promotion bakes, and nothing moves before the bake ends
    rec = w.promotion()
    assert rec.status == "baking" and rec.from_stage == "staging"
    assert w.later(29 * 60) is None or w.promotion().status == "baking"
    assert w.to_deployer() == []
    # When the bake ends with nothing wrong in staging
    w.later(60)
    # Then the digest is released to the deployer once, which deploys production
    released = w.to_deployer()
    assert [(b["dockhand"], b["stage"], b["digest"]) for b in released] == [("promotion", "production", DIGEST)]
    assert w.image("prod") == f"{REGISTRY}/web@{DIGEST}"
    assert w.promotion().status == "deployed"
    assert kinds(w.notes()) == ["promotion_released"]
    # And a redelivered release deploys nothing twice
    before = boto3.client("ecs", region_name=REGION).list_task_definitions(familyPrefix="web-prod")
    w.deployer(released[0])
    after = boto3.client("ecs", region_name=REGION).list_task_definitions(familyPrefix="web-prod")
    assert after["taskDefinitionArns"] == before["taskDefinitionArns"]


def test_a_task_failure_during_the_bake_stops_the_walk_and_says_why(walk) -> None:
    # Given 1.1.0 completed in staging and bakes toward production
    w = walk()
    w.push("1.1.0")
    w.completed("staging")
    # When a staging task of web fails during the bake
    w.later(10 * 60)
    w.task_failed("staging")
    w.later(20 * 60)
    # Then production is not deployed, and the walk says why
    assert w.to_deployer() == []
    assert w.image("prod") == f"{REGISTRY}/web:1.0.0"
    rec = w.promotion()
    assert rec.status == "stopped"
    assert "a task of staging/web failed during the bake" in rec.reason
    stopped = [n for n in w.notes() if n["kind"] == "promotion_stopped"]
    assert len(stopped) == 1 and "failed during the bake" in json.dumps(stopped[0]["body"])


def test_a_task_that_failed_before_the_completion_was_handled_still_failed_during_the_bake(walk) -> None:
    # Given 1.1.0 deployed to staging, whose deployment ECS reports COMPLETED now
    w = walk()
    w.push("1.1.0")
    completed_at = datetime.now(UTC)
    # When a staging task fails a minute later, and the COMPLETED event is handled only after that
    w.later(60)
    w.task_failed("staging")
    w.later(60)
    w.completed("staging", at=completed_at)
    w.later(30 * 60)
    # Then the bake counted from the completion: the failure stops the walk
    assert w.to_deployer() == []
    rec = w.promotion()
    assert rec.status == "stopped" and "a task of staging/web failed during the bake" in rec.reason
    assert rec.bake_until == int(completed_at.timestamp()) + 30 * 60


def test_an_alarm_not_ok_at_the_end_of_the_bake_stops_the_walk(walk) -> None:
    # Given production asks for the alarm web-5xx to be OK, and the alarm fires
    web_5xx_alarm("ALARM")
    w = walk(alarms=["web-5xx"], bake_minutes=5)
    w.push("1.1.0")
    w.completed("staging")
    # When the bake ends
    w.later(5 * 60)
    # Then the walk stops on the alarm
    assert w.to_deployer() == []
    assert w.promotion().reason == "alarm web-5xx is ALARM"


def test_a_held_digest_is_not_promoted(walk) -> None:
    # Given 1.1.0 completed in staging and its digest is held meanwhile (rolled back elsewhere)
    from dockhand import deps
    from dockhand.state.deployments import HoldRecord, Holds

    w = walk(bake_minutes=1)
    w.push("1.1.0")
    w.completed("staging")
    Holds(deps.table()).hold(HoldRecord(repository="web", digest=DIGEST, reason="rolled back in eu"))
    # When the bake ends
    w.later(60)
    # Then nothing is released, and the reason names the hold
    assert w.to_deployer() == []
    assert "held" in w.promotion().reason and "rolled back in eu" in w.promotion().reason


def test_a_newer_digest_supersedes_an_older_pending_one(walk) -> None:
    # Given 1.1.0 bakes toward production
    w = walk()
    w.push("1.1.0")
    w.completed("staging")
    # When 1.2.0 is pushed and completes in staging before that bake ends
    w.later(60)
    w.push("1.2.0", NEWER)
    w.completed("staging")
    # Then 1.1.0's promotion is superseded, and only 1.2.0 reaches production
    assert w.promotion(digest=DIGEST).status == "superseded"
    w.later(30 * 60)
    assert [b["digest"] for b in w.to_deployer()] == [NEWER]
    assert w.image("prod") == f"{REGISTRY}/web@{NEWER}"
    assert "promotion_stopped" in kinds(w.notes())


def _waiting_for_approval(walk: Any) -> Walk:
    """1.1.0 deployed to staging, baked clean: production waits for the approval `APPROVAL` declares."""
    w = walk(**APPROVAL)
    w.push("1.1.0")
    w.completed("staging")
    w.later(10 * 60)
    return w


def _decide(w: Walk, decision: str, who: str, digest: str = DIGEST) -> Any:
    from dockhand.promote.approvals import decide
    from functions.watcher import app

    w.function_env("WatcherFunction", w.config)
    return decide(app.promoter(), "web", digest, "production", decision, who)  # type: ignore[arg-type]


APPROVAL = {"approval": {"approvers": [APPROVER], "expires_minutes": 60}, "bake_minutes": 10}


def test_an_approval_gate_waits_for_a_declared_approver_then_releases(walk) -> None:
    # Given production asks for an approval, and 1.1.0's bake in staging ends clean
    w = _waiting_for_approval(walk)
    # Then the promotion waits for an approval, and nothing is released
    assert w.promotion().status == "awaiting_approval"
    assert w.to_deployer() == []
    assert kinds(w.notes()) == ["promotion_approval"]
    # When someone who is not an approver approves
    refused = _decide(w, "approve", f"arn:aws:sts::{ACCOUNT}:assumed-role/Intern/bob")
    # Then nothing changes
    assert not refused.ok and "not among the approvers" in refused.text
    assert w.promotion().status == "awaiting_approval"
    # When a session of the declared role approves
    answer = _decide(w, "approve", f"arn:aws:sts::{ACCOUNT}:assumed-role/Releaser/alice")
    assert answer.ok
    w.later(1)
    # Then the digest is released and deployed to production, approved by that session
    assert [b["digest"] for b in w.to_deployer()] == [DIGEST]
    assert w.image("prod") == f"{REGISTRY}/web@{DIGEST}"
    assert w.promotion().decided_by.endswith("Releaser/alice")
    # And a second answer changes nothing
    assert not _decide(w, "reject", f"arn:aws:sts::{ACCOUNT}:assumed-role/Releaser/carol").ok


def test_a_rejection_stops_the_walk(walk) -> None:
    w = _waiting_for_approval(walk)
    assert _decide(w, "reject", APPROVER).ok
    w.later(1)
    assert w.to_deployer() == []
    assert w.promotion().status == "rejected"
    assert kinds(w.notes())[-1] == "promotion_stopped"


def test_an_unanswered_approval_expires_and_a_late_answer_changes_nothing(walk) -> None:
    # Given a promotion waiting for an approval that expires after 60 minutes
    w = _waiting_for_approval(walk)
    # When nobody answers for an hour
    for _ in range(4):
        w.later(15 * 60)
    # Then it expired, said so, and a late approval deploys nothing
    assert w.promotion().status == "expired"
    assert "nobody answered" in json.dumps(w.notes()[-1]["body"])
    assert not _decide(w, "approve", APPROVER).ok
    w.later(1)
    assert w.to_deployer() == []
    assert w.image("prod") == f"{REGISTRY}/web:1.0.0"


def test_a_newer_digest_supersedes_one_waiting_for_approval(walk) -> None:
    # Given 1.1.0 waits for an approval
    w = _waiting_for_approval(walk)
    # When 1.2.0 completes in staging
    w.push("1.2.0", NEWER)
    w.completed("staging")
    # Then 1.1.0's request is superseded and cannot be approved any more
    assert w.promotion(digest=DIGEST).status == "superseded"
    assert not _decide(w, "approve", APPROVER).ok


def test_an_answer_whose_message_was_lost_is_finished_by_the_same_answer_again(walk) -> None:
    # Given an approval was taken but its `decided` message never reached the watcher
    w = _waiting_for_approval(walk)
    assert _decide(w, "approve", APPROVER).ok
    assert [b["action"] for b in w.inbox.after(1)] == ["decided"]  # taken off the queue, never handled
    assert w.to_deployer() == []
    # When the same approver answers the same again
    assert _decide(w, "approve", APPROVER).ok
    w.later(1)
    # Then the promotion is released once, and production runs the digest
    assert [b["digest"] for b in w.to_deployer()] == [DIGEST]
    assert w.image("prod") == f"{REGISTRY}/web@{DIGEST}"
    # And another approver's answer now changes nothing
    assert not _decide(w, "reject", f"arn:aws:sts::{ACCOUNT}:assumed-role/Releaser/carol").ok


def test_a_promotion_older_than_what_production_runs_is_not_deployed_and_the_walk_says_so(walk) -> None:
    # Given 1.1.0 bakes toward production, and meanwhile someone runs a later image (1.5.0) there by hand
    from dockhand_local.images import image_manifest

    w = walk(bake_minutes=5)
    w.push("1.1.0")
    w.completed("staging")
    w.later(60)
    boto3.client("ecr", region_name=REGION).put_image(
        repositoryName="web", imageTag="1.5.0", imageManifest=image_manifest("web:1.5.0")
    )
    ecs = boto3.client("ecs", region_name=REGION)
    td = ecs.register_task_definition(
        family="web-prod", containerDefinitions=[{"name": "web", "image": f"{REGISTRY}/web:1.5.0", "memory": 256}]
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.update_service(cluster="prod", service="web", taskDefinition=td)
    # When the bake ends and the promotion reaches the deployer
    w.later(4 * 60)
    assert [b["stage"] for b in w.to_deployer()] == ["production"]
    # Then production keeps the later image (never backwards), and the promotion says why it stopped
    assert w.image("prod") == f"{REGISTRY}/web:1.5.0"
    rec = w.promotion()
    assert rec.status == "stopped" and "prod/web: older" in rec.reason
