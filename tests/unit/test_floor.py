"""The shared floor: ECS ARNs, console links and backoff, each in one place."""

from __future__ import annotations

import pytest

from dockhand import arns
from dockhand.backoff import exponential
from dockhand.links import task_link


@pytest.mark.parametrize(
    ("arn", "last"),
    [
        ("arn:aws:ecs:eu-west-1:111111111111:task/prod/0123abcd", "0123abcd"),
        ("arn:aws:ecs:eu-west-1:111111111111:cluster/prod", "prod"),
        ("arn:aws:ecs:eu-west-1:111111111111:task-definition/web:12", "web:12"),
        ("prod", "prod"),
        ("", ""),
    ],
)
def test_the_last_part_is_what_follows_the_last_slash(arn: str, last: str) -> None:
    assert arns.last_part(arn) == last


def test_a_service_arn_names_its_cluster_unless_it_is_the_old_short_form() -> None:
    assert arns.cluster_and_service("arn:aws:ecs:us-east-1:1:service/prod/web") == ("prod", "web")
    assert arns.cluster_and_service("arn:aws:ecs:us-east-1:1:service/web") == ("", "web")


def test_family_and_revision_of_a_task_definition() -> None:
    arn = "arn:aws:ecs:us-east-1:1:task-definition/my-app:7"
    assert (arns.family(arn), arns.revision(arn)) == ("my-app", 7)
    assert (arns.family("my-app"), arns.revision("my-app")) == ("my-app", None)


def test_exponential_backoff_stays_within_its_floor_and_cap() -> None:
    assert [exponential(30, 2, n, cap=100) for n in (1, 2, 3, 4)] == [30, 60, 100, 100]
    assert exponential(5, 2, 1, floor=60, cap=86_400) == 60
    assert exponential(60, 3, 0, cap=1_000) == 60  # attempt 0 waits the base, as attempt 1 does


def test_task_links_open_the_task_or_one_of_its_tabs() -> None:
    assert task_link("prod", "abc", "eu-west-1") == (
        "https://eu-west-1.console.aws.amazon.com/ecs/v2/clusters/prod/tasks/abc"
    )
    assert task_link("prod", "abc", "eu-west-1", tab="configuration") == (
        "https://eu-west-1.console.aws.amazon.com/ecs/v2/clusters/prod/tasks/abc/configuration?region=eu-west-1"
    )
