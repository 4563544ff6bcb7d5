"""The audit's flows, driven once per worker and shared by the permission and alarm tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from dockhand_local.slack import LoopbackSlack
from tests.audit.flows import FLOWS, FlowRun, run_flow

_RUNS: dict[tuple[str, str], FlowRun] = {}


@pytest.fixture(scope="module")
def slack() -> Iterator[LoopbackSlack]:
    """One loopback Slack for every flow (each flow starts with its messages emptied)."""
    with LoopbackSlack() as server:
        yield server


@pytest.fixture
def flow_run(slack: LoopbackSlack) -> Callable[[str, str], FlowRun]:
    """Each flow is driven once per process and its checked calls shared by the tests below."""

    def run(function: str, flow: str) -> FlowRun:
        if (function, flow) not in _RUNS:
            _RUNS[function, flow] = run_flow(function, flow, slack)
        return _RUNS[function, flow]

    return run


@pytest.fixture
def all_runs(flow_run: Callable[[str, str], FlowRun]) -> Callable[[str], list[FlowRun]]:
    return lambda function: [flow_run(function, flow) for flow in FLOWS[function]]
