"""What runs on a service and whether a push is older than it (pure), said in the policy's own language."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dockhand.config import DeployTarget
from dockhand.deploy.context import Push
from dockhand.deploy.running import Running, compare, from_revision, from_row, short
from dockhand.state.ledger import LedgerRow

NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)
REGISTRY = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
A, B = "sha256:" + "a" * 64, "sha256:" + "b" * 64
ARN = "arn:aws:ecs:us-east-1:123456789012:service/prod/web"


def target(tags: str = "semver:^2.0") -> DeployTarget:
    return DeployTarget(repository="web", tags=tags, cluster="prod", services=["web"])


def push(tag: str = "2.1.0", digest: str = A, at: datetime = NOW) -> Push:
    return Push(
        event_id="e-1",
        repository="web",
        tag=tag,
        digest=digest,
        pushed_at=at,
        account="123456789012",
        region="us-east-1",
    )


def running(tag: str | None, digest: str | None = B, at: datetime | None = NOW - timedelta(hours=1)) -> Running:
    return Running(how="ledger", repository="web", tag=tag, digest=digest, pushed_at=at)


def test_a_lower_version_is_older_whatever_its_push_time() -> None:
    verdict = compare(target().tags, push("2.13.9"), running("2.14.0"), "web")
    assert verdict is not None and not verdict.deploy and verdict.reason == "older"
    assert verdict.text == f"web:2.13.9 is a lower version than web:2.14.0 ({short(B)}), which runs on web"


def test_a_higher_version_is_deployed_even_when_pushed_earlier() -> None:
    verdict = compare(target().tags, push("2.16.0", at=NOW - timedelta(days=1)), running("2.15.0"), "web")
    assert verdict is not None and verdict.deploy


def test_equal_versions_are_ordered_by_push_time() -> None:
    rebuilt_earlier = compare(target().tags, push("2.1.0", at=NOW - timedelta(hours=2)), running("2.1.0"), "web")
    assert rebuilt_earlier is not None and rebuilt_earlier.reason == "older"
    assert compare(target().tags, push("2.1.0"), running("2.1.0"), "web").deploy  # type: ignore[union-attr]


@pytest.mark.parametrize("tags", ["latest", "glob:main-*", "regex:^main-.*$"])
def test_under_a_tag_name_policy_a_skip_gives_both_push_times_and_digests(tags: str) -> None:
    # Given the same tag name on both sides (what used to read "latest is older than latest")
    tag = "latest" if tags == "latest" else "main-1"
    verdict = compare(target(tags).tags, push(tag, at=NOW - timedelta(hours=3)), running(tag), "web")
    assert verdict is not None and not verdict.deploy
    assert verdict.text == (
        f"web:{tag} (sha256:aaaaaaaaaaaa, pushed 2026-11-01 09:00:00 UTC) was pushed before web:{tag} "
        f"(sha256:bbbbbbbbbbbb), pushed 2026-11-01 11:00:00 UTC, which runs on web"
    )


def test_the_same_image_is_never_older() -> None:
    assert compare(target("latest").tags, push("latest", at=NOW - timedelta(days=9)), running("x", A), "web").deploy  # type: ignore[union-attr]


def test_an_image_reference_without_a_push_time_decides_nothing_by_itself() -> None:
    undated = Running(how="image", repository="web", tag="latest", reference=f"{REGISTRY}/web:latest")
    assert compare(target("latest").tags, push("latest"), undated, "web") is None
    # But under a semver policy its version decides
    versioned = Running(how="image", repository="web", tag="2.14.0", reference=f"{REGISTRY}/web:2.14.0")
    assert compare(target().tags, push("2.13.9"), versioned, "web").reason == "older"  # type: ignore[union-attr]


def test_the_running_revision_speaks_for_itself_by_its_tags_then_by_its_image() -> None:
    td = {
        "containerDefinitions": [{"name": "proxy", "image": "nginx:1"}, {"name": "web", "image": f"{REGISTRY}/web@{B}"}]
    }
    tags = [{"key": "dockhand:tag", "value": "2.0.0"}, {"key": "dockhand:digest", "value": B}]
    tagged = from_revision(
        td, [*tags, {"key": "dockhand:pushed-at", "value": NOW.isoformat()}], push(), target(), "web"
    )
    assert (tagged.how, tagged.tag, tagged.digest, tagged.pushed_at) == ("tags", "2.0.0", B, NOW)
    by_image = from_revision(td, [], push(), target(), "web")
    assert (by_image.how, by_image.digest, by_image.reference) == ("image", B, f"{REGISTRY}/web@{B}")
    other = from_revision({"containerDefinitions": [{"name": "app", "image": "busybox"}]}, [], push(), target(), "web")
    assert other.how == "nothing"


def test_a_ledger_row_speaks_only_for_the_revision_it_names() -> None:
    row = LedgerRow(
        service_arn=ARN, version=3, digest=B, tag="2.0.0", pushed_at=NOW.isoformat(), task_definition_arn="td:7"
    )
    assert row.describes("td:7") and not row.describes("td:8")
    assert row.claim_key == f"{ARN}@3"
    assert from_row(row, "web").pushed_at == NOW
