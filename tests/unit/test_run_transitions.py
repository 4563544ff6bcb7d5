"""The run's state machine is one table; the conditional writes are derived from it."""

from __future__ import annotations

from typing import get_args

from dockhand.state.runs import FINAL, TRANSITIONS, RunStatus, Step, condition


def test_every_step_is_in_the_table_and_every_status_is_reached() -> None:
    # Given the steps a run can take and the statuses it can be in
    steps, statuses = set(get_args(Step)), set(get_args(RunStatus))
    # Then the table has a row for each step, and every status is some step's target
    assert set(TRANSITIONS) == steps
    assert {t.to for t in TRANSITIONS.values()} == statuses


def test_no_step_leaves_a_final_status() -> None:
    # A final run never moves again: a task launched for a run that was replaced meanwhile is stopped instead.
    leaving_final = {name for name, t in TRANSITIONS.items() if set(t.source) & FINAL}
    assert leaving_final == set()


def test_a_step_at_the_current_attempt_is_conditional_on_its_sources() -> None:
    expression, values = condition("time_out")
    assert expression == "attempt = :a AND #s IN (:from0)"
    assert values == {":from0": "running"}
    expression, values = condition("replace")
    assert expression == "attempt = :a AND #s IN (:from0, :from1, :from2)"
    assert values == {":from0": "pending", ":from1": "running", ":from2": "retrying"}


def test_the_next_attempt_starts_only_from_a_run_waiting_for_its_retry() -> None:
    # A final run (replaced while it waited, say) is never brought back by a retry that comes anyway.
    expression, values = condition("next_attempt")
    assert expression == ("attribute_exists(pk) AND ((attempt < :a AND #s IN (:from0)) OR (attempt = :a AND #s = :to))")
    assert values == {":from0": "retrying"}


def test_a_launch_is_recorded_only_on_a_run_still_pending() -> None:
    assert condition("launched") == ("attempt = :a AND #s IN (:from0)", {":from0": "pending"})
