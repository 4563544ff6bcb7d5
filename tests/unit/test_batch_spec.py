"""A job declaration becomes its RunTask request and its schedule, and nothing else."""

from __future__ import annotations

from datetime import UTC, datetime

from dockhand.batch import spec
from dockhand.config import Job
from dockhand.started_by import JOB_PREFIX


def _job(**extra: object) -> Job:
    base: dict[str, object] = {
        "name": "report",
        "schedule": "cron(0 2 * * ? *)",
        "cluster": "demo",
        "task_definition": "report:7",
    }
    base.update(extra)
    return Job.model_validate(base)


def test_capacity_provider_strategy_means_no_launch_type() -> None:
    job = _job(
        capacity_provider_strategy=[
            {"capacity_provider": "FARGATE_SPOT", "weight": 3},
            {"capacity_provider": "FARGATE", "base": 1},
        ],
        network={"subnets": ["subnet-1"], "security_groups": ["sg-1"], "assign_public_ip": True},
    )
    request = spec.run_task_request(job, "20261129T010000Z-abc123", 2)
    assert "launchType" not in request
    assert request["capacityProviderStrategy"] == [
        {"capacityProvider": "FARGATE_SPOT", "weight": 3, "base": 0},
        {"capacityProvider": "FARGATE", "weight": 1, "base": 1},
    ]
    assert request["networkConfiguration"] == {
        "awsvpcConfiguration": {"subnets": ["subnet-1"], "securityGroups": ["sg-1"], "assignPublicIp": "ENABLED"}
    }
    assert request["taskDefinition"] == "report:7"
    assert {t["key"]: t["value"] for t in request["tags"]}["dockhand:attempt"] == "2"


def test_tokens_differ_per_attempt_and_repeat_per_invocation() -> None:
    run = spec.run_id_for("report", datetime(2026, 11, 29, 1, tzinfo=UTC))
    assert run == spec.run_id_for("report", datetime(2026, 11, 29, 2, tzinfo=UTC).replace(hour=1))
    assert run.startswith("20261129T010000Z-")
    assert spec.client_token("report", run, 1) != spec.client_token("report", run, 2)
    assert spec.client_token("report", run, 1) == spec.client_token("report", run, 1)


def test_suspended_job_with_a_window_makes_a_disabled_flexible_schedule() -> None:
    request = spec.schedule_request(
        _job(suspend=True, flexible_window_minutes=10, timezone="Asia/Tokyo"), "grp", "arn:q", "arn:role", None
    )
    assert request["State"] == "DISABLED"
    assert request["FlexibleTimeWindow"] == {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 10}
    assert request["ScheduleExpressionTimezone"] == "Asia/Tokyo"
    assert "DeadLetterConfig" not in request["Target"]


def test_started_by_keeps_the_routing_prefix_and_the_allowed_characters() -> None:
    # Given two attempts of one run of a job whose name has a dot
    first, second = spec.started_by("nightly.report", "r1", 1), spec.started_by("nightly.report", "r1", 2)
    # Then each is the prefix, the job (only allowed characters) and a digest of the attempt, within 36 characters
    assert first.startswith("dockhand-job/nightly-report/") and len(first) <= 36
    assert first != second and first == spec.started_by("nightly.report", "r1", 1)
    # And a long job name is cut, never the digest that tells the attempts apart
    long_one, long_two = spec.started_by("x" * 64, "r1", 1), spec.started_by("x" * 64, "r1", 2)
    assert long_one.startswith(JOB_PREFIX) and len(long_one) == 36 and long_one != long_two
