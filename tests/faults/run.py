"""Running one flow in a fresh world, with or without a fault, and comparing what it did with a clean run."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.faults.flows import Flow, _sns
from tests.faults.world import REGION, START, FaultPlan, World, recording


@dataclass
class Outcome:
    calls: list[tuple[str, str]]
    effects: Counter[str]
    problem: str | None  # None: ended as intended
    dead: dict[str, list[dict[str, object]]]
    redriven: int = 0
    fired: int = 0


@dataclass
class Case:
    flow: str
    fault: str  # "throttle@3 ECS:RunTask" or "persistent 5xx ECS:RunTask"
    outcome: Outcome
    baseline: Outcome
    failures: list[str] = field(default_factory=list)


@contextmanager
def tasks_run_until_stopped() -> Iterator[None]:
    """moto moves a task one lifecycle step per DescribeTasks (RUNNING → … → STOPPED after four); an ECS task runs
    until it exits or is stopped. The world stops job tasks itself, by their script."""
    from moto.moto_api import state_manager

    state_manager.set_transition("ecs::task", {"progression": "manual", "times": 10**9})
    try:
        yield
    finally:
        state_manager.unset_transition("ecs::task")


@contextmanager
def fresh_world(slack: object, tmp: Path) -> Iterator[World]:
    """A new moto, a clock standing at START, the stack created from template.yaml, the recorder installed."""
    import boto3
    import time_machine
    from moto import mock_aws

    from dockhand_local.stack import create_stack

    with ExitStack() as stack:
        stack.enter_context(mock_aws())
        stack.enter_context(tasks_run_until_stopped())
        clock = stack.enter_context(time_machine.travel(START, tick=False))
        recorder = stack.enter_context(recording())
        created = create_stack(boto3.Session(), region=REGION)
        slack.clear()  # type: ignore[attr-defined]
        yield World(created, slack, recorder, clock, tmp)


def run(flow: Flow, slack: object, tmp: Path, plan: FaultPlan | None = None) -> Outcome:
    with fresh_world(slack, tmp) as world:
        flow.setup(world)
        world.forget()
        _sns(world)
        world.sns.clear()
        world.recorder.plan = plan
        flow.start(world)
        world.settle()
        dead = world.dead_letters()
        redriven = 0
        if plan is not None and plan.persistent:
            world.recorder.plan = None  # the fault is gone; a person redrives the DLQs
            redriven = world.redrive()
            world.settle()
        return Outcome(
            calls=list(world.recorder.calls),
            effects=world.effects(),
            problem=flow.check(world),
            dead=dead if plan is None or not plan.persistent else world.dead_letters(),
            redriven=redriven,
            fired=plan.fired if plan else 0,
        )


def judge(flow: Flow, fault: str, outcome: Outcome, baseline: Outcome) -> Case:
    case = Case(flow=flow.name, fault=fault, outcome=outcome, baseline=baseline)
    if outcome.problem:
        case.failures.append(f"not done: {outcome.problem}")
    if outcome.dead:
        case.failures.append(f"left in a DLQ: {outcome.dead}")
    extra = outcome.effects - baseline.effects
    missing = baseline.effects - outcome.effects
    if extra:
        case.failures.append(f"duplicate effects: {dict(extra)}")
    if missing:
        case.failures.append(f"missing effects: {dict(missing)}")
    return case
