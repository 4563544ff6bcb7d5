"""Tag policies and push ordering (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dockhand.config import TagPolicy
from dockhand.deploy.policy import accepts, is_older


@pytest.mark.parametrize(
    ("policy", "tag", "taken"),
    [
        ("latest", "latest", True),
        ("latest", "latest-1", False),
        ("glob:release-*", "release-42", True),
        ("glob:release-*", "pre-release-42", False),
        ("regex:v\\d+", "v12", True),
        ("regex:v\\d+", "v12-hotfix", False),  # full match, not search
        ("semver:^1.2", "1.9.3", True),
        ("semver:^1.2", "2.0.0", False),
        ("semver:~1.2", "1.2.9", True),
        ("semver:~1.2", "1.3.0", False),
        ("semver:>=2 <3", "2.7.1", True),
        ("semver:>=2 <3", "3.0.0", False),
        ("semver:^2.0", "v2.1.0", True),
        ("semver:^2.0", "latest", False),
        ("semver:^2.0", "2.1.0-rc.1", False),
    ],
)
def test_policy_takes_tag(policy: str, tag: str, taken: bool) -> None:
    # Given a policy / When a tag is pushed / Then it is taken or not
    assert accepts(TagPolicy.model_validate(policy), tag) is taken


def test_prerelease_taken_only_when_asked_for() -> None:
    # Given the same range with and without pre-releases
    strict = TagPolicy(kind="semver", pattern="^2.0")
    loose = TagPolicy(kind="semver", pattern="^2.0", prereleases=True)
    # Then only the loose one takes a pre-release, and neither takes one outside the range
    assert not accepts(strict, "2.2.0-rc.1")
    assert accepts(loose, "2.2.0-rc.1")
    assert not accepts(loose, "3.0.0-rc.1")


T10 = datetime(2026, 11, 1, 10, tzinfo=UTC)
T11 = datetime(2026, 11, 1, 11, tzinfo=UTC)


def test_lower_semver_is_older_even_when_pushed_later() -> None:
    semver = TagPolicy.model_validate("semver:^2.0")
    assert is_older(semver, "2.13.9", T11, "2.15.0", T10)
    assert not is_older(semver, "2.15.1", T10, "2.15.0", T11)


def test_push_time_decides_without_semver() -> None:
    glob = TagPolicy.model_validate("glob:main-*")
    assert is_older(glob, "main-a", T10, "main-b", T11)
    assert not is_older(glob, "main-b", T11, "main-a", T10)
    assert not is_older(glob, "main-b", T11, None, None)


def test_same_semver_rebuilt_falls_back_to_push_time() -> None:
    semver = TagPolicy.model_validate("semver:^2.0")
    assert is_older(semver, "2.1.0", T10, "2.1.0", T11)
