"""Stages in the declarations: a promoted target names the stage it comes from; mistakes name the field."""

from __future__ import annotations

from typing import Any

import pytest

from dockhand.config import parse_config
from dockhand.errors import ConfigError

APPROVER = "arn:aws:iam::123456789012:role/Releaser"


def targets(*extra: dict[str, Any], **prod: Any) -> dict[str, Any]:
    staging = {"repository": "web", "tags": "semver:^1", "stage": "staging", "cluster": "s", "services": ["web"]}
    production = {"repository": "web", "stage": "production", "promote_from": "staging", "cluster": "p"}
    return {"deploy": {"targets": [staging, production | {"services": ["web"]} | prod, *extra]}}


def test_a_promoted_stage_takes_no_push_and_follows_its_stage() -> None:
    # Given staging deployed on push and production promoted from it, with a gate
    cfg = parse_config(targets(bake_minutes=45, alarms=["web-5xx"], approval={"approvers": [APPROVER, "U0ALICE"]}))
    deploy = cfg.deploy
    # Then a push of web goes to staging only, and production follows staging
    assert [t.stage for t in deploy.targets_for("web")] == ["staging"]
    assert deploy.next_stages("web", "staging") == ["production"]
    prod = deploy.stage_targets("web", "production")[0]
    assert (prod.bake_minutes, prod.alarms, prod.approval.expires_minutes) == (45, ["web-5xx"], 1440)
    # And an assumed-role session of a declared role approves as that role; another role does not
    assert prod.approval.allows("arn:aws:sts::123456789012:assumed-role/Releaser/alice")
    assert not prod.approval.allows("arn:aws:sts::123456789012:assumed-role/Intern/bob")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (targets(promote_from="stagin"), "deploy.targets.1.promote_from: 'stagin' is no stage of repository 'web'"),
        (targets(tags="latest"), "either `tags` (deployed on push) or `promote_from`"),
        (targets(stage=None), "promote_from needs `stage`"),
        (targets(promote_from="production"), "cannot be promoted from itself"),
        (
            targets({"repository": "web", "tags": "latest", "stage": "qa", "cluster": "q", "services": ["w"]}, x=1),
            "deploy.targets.1.x",
        ),
        (targets(approval={"approvers": ["bob"]}), "deploy.targets.1.approval.approvers.0"),
        (targets(approval={"approvers": []}), "deploy.targets.1.approval.approvers"),
        (targets(bake_minutes=-1), "deploy.targets.1.bake_minutes"),
        (targets(traffic_gate={}), "deploy.targets.1.traffic_gate: Value error, traffic_gate holds nothing"),
        (targets(traffic_gate={"bake_minutes": 2000}), "deploy.targets.1.traffic_gate.bake_minutes"),
        (
            targets(traffic_gate={"alarms": ["a"], "callback_seconds": 1}),
            "deploy.targets.1.traffic_gate.callback_seconds",
        ),
        (
            targets(traffic_gate={"approval": {"approvers": ["U0ALICE"]}}, approval={"approvers": ["U0BOB"]}),
            "deploy.targets.1.traffic_gate.approval: stage 'production' of 'web' asks an approval before the deploy",
        ),
        (
            targets(
                {
                    "repository": "api",
                    "tags": "latest",
                    "cluster": "q",
                    "services": ["a"],
                    "traffic_gate": {"bake_minutes": 5},
                }
            ),
            "deploy.targets.2: Value error, traffic_gate needs `stage`",
        ),
    ],
)
def test_a_mistake_in_the_stages_names_the_field(data: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(data, "dockhand.yaml")
    assert expected in str(err.value)


def test_stages_that_go_round_in_a_circle_are_refused() -> None:
    # Given qa promoted from production, and production from qa
    data = targets(promote_from="qa")
    data["deploy"]["targets"].append(
        {"repository": "web", "stage": "qa", "promote_from": "production", "cluster": "q", "services": ["w"]}
    )
    with pytest.raises(ConfigError, match="go round in a circle"):
        parse_config(data)


def test_a_traffic_gate_belongs_to_the_services_it_names() -> None:
    # Given production's target holds its traffic behind a gate
    cfg = parse_config(targets(traffic_gate={"bake_minutes": 10, "approval": {"approvers": ["U0ALICE"]}}))
    # Then the gate is found by the cluster and service ECS names (a cluster ARN in the file matches too)
    [gated] = cfg.deploy.gated_targets("p", "web")
    assert gated.stage == "production" and gated.traffic_gate.callback_seconds == 60
    assert cfg.deploy.gated_targets("s", "web") == [] and cfg.deploy.gated_targets("p", "api") == []
    by_arn = parse_config(
        targets(cluster="arn:aws:ecs:us-east-1:123456789012:cluster/p", traffic_gate={"alarms": ["x"]})
    )
    assert [t.stage for t in by_arn.deploy.gated_targets("p", "web")] == ["production"]
