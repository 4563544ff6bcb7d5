"""Exit rules decide like AWS Batch evaluateOnExit; backoff grows and stays within bounds."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockhand.batch.retries import backoff_seconds, evaluate_exit
from dockhand.batch.task_results import exit_of, from_exception, from_response
from dockhand.config import JobRetries
from dockhand.errors import RetryableError
from dockhand.events import TaskDetail

RULES = JobRetries(
    attempts=3,
    evaluate_on_exit=[
        {"on_exit_code": "2", "action": "fail"},
        {"on_reason": "OutOfMemoryError*", "action": "fail"},
        {"on_exit_code": "1*", "action": "retry"},
    ],
)


@pytest.mark.parametrize(
    ("exit_code", "reasons", "attempt", "verdict"),
    [
        (0, [], 1, "succeeded"),
        (1, [], 1, "retry"),  # rule 3
        (1, [], 3, "failed"),  # rule 3 says retry, no attempt left
        (2, [], 1, "failed"),  # rule 1, attempts left but fail at once
        (137, ["OutOfMemoryError: Container killed due to memory usage"], 1, "failed"),  # rule 2
        (13, [], 1, "retry"),  # rule 3 glob
        (42, [], 1, "retry"),  # no match, non-zero: retried while attempts remain
        (42, [], 3, "failed"),
        (None, ["CannotPullContainerError: pull access denied"], 1, "retry"),  # no exit code, no rule
    ],
)
def test_evaluate_exit(exit_code: int | None, reasons: list[str], attempt: int, verdict: str) -> None:
    assert evaluate_exit(RULES, attempt, exit_code, reasons).verdict == verdict


def test_exit_0_succeeds_even_with_a_catch_all_retry_rule() -> None:
    rules = JobRetries(attempts=3, evaluate_on_exit=[{"on_exit_code": "*", "action": "retry"}])
    assert evaluate_exit(rules, 1, 0, []).verdict == "succeeded"


@given(st.integers(1, 10), st.integers(0, 86400), st.floats(1.0, 10.0))
def test_backoff_is_bounded_and_never_shrinks(attempt: int, base: int, multiplier: float) -> None:
    retries = JobRetries(attempts=10, backoff_seconds=base, backoff_multiplier=multiplier)
    delay = backoff_seconds(retries, attempt)
    assert 60 <= delay <= 86400
    assert backoff_seconds(retries, attempt + 1) >= delay


TASK_ARN = "arn:aws:ecs:us-east-1:123456789012:task/c/0123456789abcdef0123456789abcdef"
CLUSTER_ARN = "arn:aws:ecs:us-east-1:123456789012:cluster/c"


def test_exit_of_prefers_the_failing_container_and_its_reason() -> None:
    detail = TaskDetail.model_validate(
        {
            "taskArn": TASK_ARN,
            "clusterArn": CLUSTER_ARN,
            "lastStatus": "STOPPED",
            "stoppedReason": "Essential container in task exited",
            "containers": [{"name": "envoy", "exitCode": 0}, {"name": "app", "exitCode": 3, "reason": "boom"}],
        }
    )
    assert exit_of(detail) == (3, ["boom", "Essential container in task exited"])
    never_started = TaskDetail.model_validate(
        {"taskArn": TASK_ARN, "clusterArn": CLUSTER_ARN, "containers": [], "stoppedReason": "x"}
    )
    assert exit_of(never_started)[0] is None


def test_launch_results() -> None:
    # failures[] and an empty answer are retryable launch failures; a throttle is too; a bad request is not
    assert from_response([], [{"reason": "RESOURCE:MEMORY"}]).reason == "RunTask failures: RESOURCE:MEMORY"
    assert not from_response([], []).ok and from_response([], []).retryable
    from botocore.exceptions import ClientError

    throttle = ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "RunTask")
    wrapped = RetryableError("ecs:RunTask")
    wrapped.__cause__ = throttle
    assert from_exception(wrapped).retryable
    bad = ClientError(
        {"Error": {"Code": "InvalidParameterException", "Message": "TaskDefinition is inactive"}}, "RunTask"
    )
    assert not from_exception(bad).retryable
    capacity = ClientError(
        {
            "Error": {
                "Code": "InvalidParameterException",
                "Message": "No Container Instances were found in your cluster.",
            }
        },
        "RunTask",
    )
    assert from_exception(capacity).retryable
