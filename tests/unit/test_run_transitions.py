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


def test_no_step_leaves_a_final_status_except_a_launch_that_already_happened() -> None:
    # A final run never moves again, but RunTask's task exists once it returned: `launched` records it regardless.
    leaving_final = {name for name, t in TRANSITIONS.items() if t.source is None or set(t.source) & FINAL}
    assert leaving_final == {"launched"}


def test_a_step_at_the_current_attempt_is_conditional_on_its_sources() -> None:
    expression, values = condition("time_out")
    assert expression == "attempt = :a AND #s IN (:from0)"
    assert values == {":from0": "running"}
    expression, values = condition("replace")
    assert expression == "attempt = :a AND #s IN (:from0, :from1)"
    assert values == {":from0": "pending", ":from1": "running"}


def test_the_next_attempt_may_also_start_from_an_earlier_attempt() -> None:
    expression, values = condition("next_attempt")
    assert expression == "attribute_exists(pk) AND (attempt < :a OR (attempt = :a AND #s IN (:from0, :from1)))"
    assert values == {":from0": "pending", ":from1": "retrying"}


def test_a_launch_is_recorded_whatever_the_status() -> None:
    assert condition("launched") == ("attempt = :a", {})
