"""The `accounts` section and the places it declares: each error names the field; a session name stays within what
STS takes."""

from __future__ import annotations

import re
from typing import Any

import pytest

from dockhand.aws.places import session_name
from dockhand.config import parse_config
from dockhand.errors import ConfigError

PROD = {"id": "222222222222", "role": "arn:aws:iam::222222222222:role/dockhand-workload", "external_id": "x-7f3c9e"}


def target(**extra: Any) -> dict[str, Any]:
    return {"repository": "web", "tags": "latest", "cluster": "prod", "services": ["web"]} | extra


def test_a_target_in_a_declared_account_and_region_is_read() -> None:
    # Given an account declared by name and a target naming it and a Region
    cfg = parse_config(
        {"accounts": {"production": PROD}, "deploy": {"targets": [target(account="production", region="eu-west-1")]}}
    )
    # Then the target's place is read, and the account is found by its id (as an event names it)
    t = cfg.deploy.targets[0]
    assert (t.account, t.region) == ("production", "eu-west-1")
    assert cfg.account_by_id("222222222222") == cfg.accounts["production"]
    assert cfg.account_by_id("123456789012") is None


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ({"accounts": {"p": PROD | {"id": "2222"}}}, "accounts.p.id: String should match pattern"),
        ({"accounts": {"p": PROD | {"role": "arn:aws:iam::333333333333:role/x"}}}, "is a role of account 333333333333"),
        ({"accounts": {"p": PROD | {"role": "dockhand-workload"}}}, "role: expected an IAM role ARN"),
        ({"accounts": {"p": PROD | {"external_id": "a b"}}}, "accounts.p.external_id"),
        ({"deploy": {"targets": [target(region="europe")]}}, "deploy.targets.0.region"),
        ({"deploy": {"targets": [target(account="nowhere")]}}, "deploy.targets.0.account: 'nowhere' is not declared"),
    ],
)
def test_a_bad_place_is_refused_naming_the_field(data: dict[str, Any], says: str) -> None:
    # Given a declaration with one bad account, role, external id, Region or account reference
    # When it is read / Then the error names the field and what was expected
    with pytest.raises(ConfigError, match=re.escape(says)):
        parse_config(data)


def test_a_session_name_names_the_push_within_what_sts_takes() -> None:
    # Given a long repository name with a slash (allowed in ECR, not in a session name)
    name = session_name("team/" + "very-long-repository-name" * 4, "3f9a0c1d2e4b")
    # Then it is at most 64 characters of STS's set, and keeps the digest whole
    assert len(name) <= 64 and re.fullmatch(r"[\w+=,.@-]{2,64}", name)
    assert name.startswith("dockhand-team-very") and name.endswith("-3f9a0c1d2e4b")
    assert session_name("web", "3f9a0c1d2e4b") == "dockhand-web-3f9a0c1d2e4b"
