"""Playing one flow from its prepared world, with or without a fault, and comparing what it did with a clean run."""

from __future__ import annotations

import os
import pickle
import signal
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from dockhand_local.slack import LoopbackSlack
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
def fresh_world(slack: LoopbackSlack, tmp: Path) -> Iterator[World]:
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
        slack.clear()
        yield World(created, slack, recorder, clock, tmp)


@contextmanager
def prepared(flow: Flow, slack: LoopbackSlack, tmp: Path) -> Iterator[Callable[[FaultPlan | None], Outcome]]:
    """A fresh world with the flow's setup done, once; each call of what it yields plays the flow (clean, or with a
    fault plan) from that very state, in a process of its own.

    Each play runs in a fork of this process: moto's state, the clock and every cache are the setup's, and whatever
    the play changes dies with its process. The loopback Slack keeps its port and answers from the play's process
    (paused here while a play runs), so the messages a play posts are the play's."""
    with fresh_world(slack, tmp) as world:
        flow.setup(world)
        world.forget()
        _sns(world)
        world.sns.clear()
        yield lambda plan: in_a_fork(slack, lambda: play(world, flow, plan))


def play(world: World, flow: Flow, plan: FaultPlan | None) -> Outcome:
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


def in_a_fork(slack: LoopbackSlack, work: Callable[[], Outcome]) -> Outcome:
    """`work()` in a child process (a fork of this one); its Outcome, or its traceback raised here."""
    read, write = os.pipe()
    slack.pause()
    pid = os.fork()
    if pid == 0:  # the child: answer Slack here, play, hand the outcome back, and leave without any cleanup
        os.close(read)
        try:
            slack.resume()
            answer: tuple[str, object] = ("ok", work())
        except BaseException:
            answer = ("error", traceback.format_exc())
        with os.fdopen(write, "wb") as out:
            pickle.dump(answer, out)
        os._exit(0)
    os.close(write)
    try:
        with os.fdopen(read, "rb") as got:
            data = got.read()
        _, status = os.waitpid(pid, 0)
    except BaseException:  # a timeout here: the child must not outlive the test
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise
    finally:
        slack.resume()
    if not data:
        raise AssertionError(f"the play's process died before it answered (wait status {status})")
    kind, value = pickle.loads(data)
    if kind == "error":
        raise AssertionError(f"the play failed in its process:\n{value}")
    assert isinstance(value, Outcome)
    return value


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
