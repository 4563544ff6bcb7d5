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
