"""One fault on any AWS call of any flow ends done, exactly once, nothing lost.

For every flow: a clean run lists the AWS calls its handlers make and the effects a user sees. Then each call in
turn fails once (a ThrottlingException or an HTTP 500, alternating) and SQS redelivers: the flow must end as
intended, with the same effects, nothing in a DLQ. Then each operation fails persistently: the message ends in
its DLQ; once the fault is gone and the DLQ is redriven, the flow must end the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dockhand_local.slack import LoopbackSlack
from tests.faults.flows import FLOWS, Flow
from tests.faults.run import Case, Outcome, judge, prepared
from tests.faults.world import FaultPlan

# One test runs a flow in a fresh world once per AWS call it makes: a flow of several handlers (a job retried once
# makes about 40 calls) takes minutes on a shared machine, beyond the suite's 300-second guard against a hang.
README = Path(__file__).parents[2] / "README.md"
pytestmark = [pytest.mark.faults, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def slack() -> Iterator[LoopbackSlack]:
    server = LoopbackSlack().start()
    yield server
    server.stop()


def tally(cases: list[Case]) -> list[str]:
    """Faulted runs, ended done, runs with a duplicate effect, runs that lost something (an effect or a message)."""
    done = sum(1 for c in cases if not c.outcome.problem and not c.outcome.dead)
    duplicated = sum(1 for c in cases if c.outcome.effects - c.baseline.effects)
    lost = sum(1 for c in cases if c.outcome.dead or c.baseline.effects - c.outcome.effects)
    return [str(len(cases)), str(done), str(duplicated), str(lost)]


def assert_readme_row(flow: Flow, what: str, first: int, cells: list[str]) -> None:
    """The README's reliability table has a row for the flow whose four cells from `first` are these figures."""
    lines = README.read_text(encoding="utf-8").splitlines()
    rows = [line.strip() for line in lines if line.strip().startswith(f"| {flow.name} |")]
    assert rows, f"README.md has no reliability row for '{flow.name}'"
    row = [cell.strip() for cell in rows[0].strip().strip("|").split("|")]
    assert row[first : first + 4] == cells, (
        f"README.md's reliability row for '{flow.name}' ({what}: runs, done, duplicated, lost) says "
        f"{row[first : first + 4]}; measured {cells}"
    )


def _label(call: tuple[str, str]) -> str:
    return f"{call[0]}:{call[1]}"


def one_fault_on_each_call(flow: Flow, play: Callable[[FaultPlan | None], Outcome], baseline: Outcome) -> list[Case]:
    """Each call of the clean run in turn fails once (a throttle or a 5xx, alternating), and SQS redelivers."""
    cases: list[Case] = []
    for index, call in enumerate(baseline.calls):
        kind = "throttle" if index % 2 == 0 else "5xx"
        outcome = play(FaultPlan(at=index, operation=call, kind=kind))
        assert outcome.fired == 1, f"the fault at call {index} ({_label(call)}) never fired"
        cases.append(judge(flow, f"{kind} on call {index} {_label(call)}", outcome, baseline))
    return cases


@pytest.mark.parametrize("flow", FLOWS, ids=lambda f: f.name.replace(" ", "-"))
def test_one_fault_on_any_call_then_redelivery_ends_done_with_no_duplicate(
    flow: Flow, slack: LoopbackSlack, tmp_path: Path
) -> None:
    # Given a clean run of the flow
    with prepared(flow, slack, tmp_path) as play:
        baseline = play(None)
        assert baseline.problem is None, f"the clean run did not finish: {baseline.problem}"
        assert not baseline.dead, baseline.dead
        assert baseline.calls, "the flow made no AWS call"
        # When each call in turn fails once
        cases = one_fault_on_each_call(flow, play, baseline)
    # Then every run ends done, with the clean run's effects and an empty DLQ
    failed = [f"{c.fault}: {'; '.join(c.failures)}" for c in cases if c.failures]
    assert not failed, f"{len(failed)} of {len(cases)} faulted runs of '{flow.name}' went wrong:\n" + "\n".join(failed)
    # And the README's reliability table says so, with these counts
    assert_readme_row(flow, "one fault on each call", 1, tally(cases))


@pytest.mark.parametrize("flow", FLOWS, ids=lambda f: f.name.replace(" ", "-"))
def test_a_persistent_fault_parks_the_message_and_a_redrive_finishes_the_flow(
    flow: Flow, slack: LoopbackSlack, tmp_path: Path
) -> None:
    with prepared(flow, slack, tmp_path) as play:
        baseline = play(None)
        assert baseline.problem is None, baseline.problem
        cases: list[Case] = []
        # When each operation the flow calls fails every time, until the fault is gone and the DLQs are redriven
        for call in dict.fromkeys(baseline.calls):
            outcome = play(FaultPlan(operation=call, kind="5xx", persistent=True))
            cases.append(judge(flow, f"persistent 5xx on {_label(call)}", outcome, baseline))
    # Then each flow ends as the clean run did
    failed = [f"{c.fault}: {'; '.join(c.failures)}" for c in cases if c.failures]
    assert not failed, f"{len(failed)} of {len(cases)} persistent faults of '{flow.name}' went wrong:\n" + "\n".join(
        failed
    )
    assert_readme_row(flow, "a persistent fault on each operation", 5, tally(cases))
