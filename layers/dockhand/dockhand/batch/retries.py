"""Whether a finished attempt succeeded, is tried again, or fails for good; and how long to wait first.

Pure. The exit rules work like AWS Batch `evaluateOnExit`: the first rule that matches decides; with
no match, exit code 0 succeeds and anything else (a non-zero code, or no code at all because the task
never started) is retried while attempts remain.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Literal

from dockhand.backoff import exponential
from dockhand.config import JobRetries, RetryRule

Verdict = Literal["succeeded", "retry", "failed"]
MAX_BACKOFF_SECONDS = 86_400
MIN_DELAY_SECONDS = 60  # a one-time schedule fires on the minute; sooner buys nothing


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    why: str


def rule_matches(rule: RetryRule, exit_code: int | None, reasons: list[str]) -> bool:
    if rule.on_exit_code is None and rule.on_reason is None:
        return False
    if rule.on_exit_code is not None and (exit_code is None or not fnmatchcase(str(exit_code), rule.on_exit_code)):
        return False
    return rule.on_reason is None or any(fnmatchcase(r, rule.on_reason) for r in reasons if r)


def evaluate_exit(retries: JobRetries, attempt: int, exit_code: int | None, reasons: list[str]) -> Decision:
    """Decide one finished attempt (1-based) of a run."""
    if exit_code == 0:
        return Decision("succeeded", "exit code 0")
    shown = "no exit code" if exit_code is None else f"exit code {exit_code}"
    for i, rule in enumerate(retries.evaluate_on_exit):
        if rule_matches(rule, exit_code, reasons):
            if rule.action == "fail":
                return Decision("failed", f"{shown}: exit rule {i + 1} says fail")
            return _retry_or_fail(retries, attempt, f"{shown}: exit rule {i + 1} says retry")
    return _retry_or_fail(retries, attempt, shown)


def can_retry(retries: JobRetries, attempt: int) -> bool:
    return attempt < retries.attempts


def _retry_or_fail(retries: JobRetries, attempt: int, why: str) -> Decision:
    if can_retry(retries, attempt):
        return Decision("retry", why)
    return Decision("failed", f"{why}; attempt {attempt} of {retries.attempts}, none left")


def backoff_seconds(retries: JobRetries, attempt: int) -> int:
    """The wait before attempt `attempt + 1`: backoff * multiplier^(attempt-1), at least a minute, at most a day."""
    return exponential(
        retries.backoff_seconds, retries.backoff_multiplier, attempt, floor=MIN_DELAY_SECONDS, cap=MAX_BACKOFF_SECONDS
    )
