"""Least privilege, measured: every AWS call each function makes, in every flow, against its policy as deployed.

Each flow (tests/audit/flows.py) runs once per worker, in a fresh moto stack, through the real handler; its
recorded calls become IAM authorizations (tests/audit/recorder.py) that are checked against the function's role
from the SAM-translated template (tests/audit/policies.py). The summary test prints the audit table:
`.venv/bin/pytest tests/audit -q -s -k summary`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest

from tests.audit.flows import FLOWS, FlowRun
from tests.audit.policies import Statement, functions, wildcard_match

pytestmark = [pytest.mark.xdist_group("permission-audit"), pytest.mark.slow]

FLOW_IDS = [pytest.param(f, flow, id=f"{f}/{flow}") for f in FLOWS for flow in FLOWS[f]]


def test_every_function_of_the_template_has_flows() -> None:
    # Given the functions the translated template deploys / Then each is driven by the audit
    assert sorted(functions()) == sorted(FLOWS)


@pytest.mark.parametrize(("function", "flow"), FLOW_IDS)
def test_every_call_of_the_flow_is_allowed(function: str, flow: str, flow_run: Callable[[str, str], FlowRun]) -> None:
    # Given the flow driven through the real handler(s)
    run = flow_run(function, flow)
    # Then it made calls, and the deployed policy allows every authorization each call needs
    assert [c for c in run.checked if c.call.function == function], f"{function}/{flow} made no AWS call"
    denied = [f"{c.call.function}: {c.call.name} needs {c.request}" for c in run.denied]
    assert not denied, "not allowed by the deployed policy:\n  " + "\n  ".join(denied)


@pytest.mark.parametrize("function", list(FLOWS))
def test_tagging_and_passing_roles_are_allowed_only_as_the_flows_do_them(
    function: str, all_runs: Callable[[str], list[FlowRun]]
) -> None:
    # Given every flow of the function
    loose = {
        f"{c.call.name} needs {c.request}; the policy also allows {variant} through {', '.join(by)}"
        for run in all_runs(function)
        for c in run.checked
        if c.call.function == function
        for variant, by in c.loose
    }
    # Then a tag on create is not a tag on anything, and a role passed to ECS or Scheduler passes nowhere else
    assert not loose, f"{function}: grants wider than the calls need:\n  " + "\n  ".join(sorted(loose))


@pytest.mark.parametrize("function", list(FLOWS))
def test_every_statement_and_action_of_the_policy_is_used_summary(
    function: str, all_runs: Callable[[str], list[FlowRun]]
) -> None:
    # Given every flow of the function, and its policy as deployed
    runs = all_runs(function)
    table = summary(function, runs)
    print(table)
    policy = runs[0].policy
    assert policy is not None
    seen = used_actions(function, runs)
    # Then every action of every statement of the function's own policy is used by some flow, or the statement
    # says why it is kept
    unused = [
        f"{s.label}: {', '.join(never) if s.label in seen else 'the whole statement'}"
        for s in policy.statements
        if not s.managed and not s.reason_unused and (never := unused_actions(s, seen))
    ]
    assert not unused, f"{function}: granted but never used (remove, or give a reason):\n  " + "\n  ".join(unused)
    used = set(seen)
    # And a reason kept for a statement that a flow does use is stale
    stale = [s.label for s in policy.statements if s.reason_unused and s.label in used]
    assert not stale, f"{function}: these statements are used, drop their reasons: {stale}"


def used_actions(function: str, runs: list[FlowRun]) -> dict[str, set[str]]:
    """statement label → the actions of the recorded requests it allowed."""
    actions: dict[str, set[str]] = {}
    for run in runs:
        for c in run.checked:
            if c.call.function == function:
                for label in c.allowed_by:
                    actions.setdefault(label, set()).add(c.request.action)
    return actions


def unused_actions(statement: Statement, seen: dict[str, set[str]]) -> list[str]:
    used = seen.get(statement.label, set())
    return [a for a in statement.actions if not any(wildcard_match(a, action, case=False) for action in used)]


def summary(function: str, runs: list[FlowRun]) -> str:
    """function → calls seen → statements used (the actions they allowed) → statements unused."""
    policy = runs[0].policy
    assert policy is not None
    calls: Counter[str] = Counter()
    for run in runs:
        calls.update({c.call.name for c in run.checked if c.call.function == function})
    actions = used_actions(function, runs)
    lines = [f"{function}", f"  calls seen ({len(runs)} flows; flows that make each call):"]
    lines += [f"    {name:<40} {n}" for name, n in sorted(calls.items())]
    lines.append("  statements used (actions seen through each):")
    for s in policy.statements:
        if s.label in actions:
            kind = " [AWS managed, for the Lambda service]" if s.managed else ""
            lines.append(f"    {s.label}{kind}: {', '.join(sorted(actions[s.label]))}")
            never = unused_actions(s, actions)
            if never and not s.managed:
                lines.append(f"      never used: {', '.join(never)}")
    lines.append("  statements unused:")
    for s in policy.statements:
        if s.label not in actions:
            why = " (AWS managed, for the Lambda service: its logs and X-Ray)" if s.managed else ""
            lines.append(f"    {s.label}{why}" + (f" — kept: {s.reason_unused}" if s.reason_unused else ""))
    return "\n".join(lines)
