"""The traffic gate: production's services deploy on ECS blue/green, and Dockhand's lifecycle hook holds the new
revision on test traffic (POST_TEST_TRAFFIC_SHIFT) until its gate passes. moto has no blue/green deployments and
calls no hooks: ECS's calls are the sample payloads of `events/hooks/`, handed to the real hook handler; the walk
(push, staging, bake, release, production's deploy) runs through the real deployer and watcher, the approval
through the real approver with a request the loopback Slack signs, the stack in moto."""

from __future__ import annotations

import copy
import json
from typing import Any

import boto3
import pytest
from hypothesis import strategies as st

from dockhand_local.slack import LoopbackSlack
from tests.integration.promotion_helpers import (
    APPROVER,
    DIGEST,
    REGION,
    REGISTRY,
    SIGNING_SECRET,
    Walk,
    slack_bot,
    web_5xx_alarm,
)
from tests.integration.promotion_helpers import SLACK_CHANNEL as CHANNEL
from tests.integration.test_deployer import throttle


def gated(walk: Any, notifications: dict[str, Any] | None = None, **gate: Any) -> Walk:
    """1.1.0 deployed to production (a blue/green service whose hook holds traffic behind `gate`)."""
    w: Walk = walk(notifications=notifications, bake_minutes=1, traffic_gate=gate)
    w.deployed_to_production()
    assert w.image("prod") == f"{REGISTRY}/web@{DIGEST}"
    return w


def gate_notes(w: Walk) -> list[tuple[str, str]]:
    """(kind, title) of the notifications SNS received about the gate."""
    found = [(n["kind"], n["body"]["content"]["title"]) for n in w.notes() if "traffic" in json.dumps(n["body"])]
    return [(kind, title.split(" ", 1)[1]) for kind, title in found]  # the severity's emoji left out


def test_the_gate_holds_test_traffic_until_the_bake_ends_clean(walk) -> None:
    # Given production deployed behind a gate that bakes 10 minutes on test traffic
    w = gated(walk, bake_minutes=10, callback_seconds=45)
    # When ECS calls the hook at POST_TEST_TRAFFIC_SHIFT
    first = w.hook()
    # Then the gate holds: ECS is asked to call again in 45 s, and the gate is recorded
    assert first == {"hookStatus": "IN_PROGRESS", "callBackDelay": 45}
    assert w.gate().status == "baking" and w.gate().tag == "1.1.0"
    # When 5 minutes pass, it still holds
    w.clock.shift(5 * 60)
    assert w.hook()["hookStatus"] == "IN_PROGRESS"
    # When the bake is over with nothing wrong
    w.clock.shift(5 * 60)
    # Then the hook answers SUCCEEDED (and again if ECS asks again), and says so once
    assert w.hook() == {"hookStatus": "SUCCEEDED"}
    assert w.hook() == {"hookStatus": "SUCCEEDED"}
    assert w.gate().status == "passed"
    passed = [t for k, t in gate_notes(w) if k == "promotion_released"]
    assert passed == ["web:1.1.0 passed the traffic gate of production"]


@pytest.fixture
def slack_gate(stack: Any, walk: Any) -> Any:
    """Production's gate asks U0ALICE's approval in Slack (bot mode, signing secret in the credential)."""
    with LoopbackSlack() as slack:
        w = gated(walk, slack_bot(stack, slack), approval={"approvers": ["U0ALICE"], "expires_minutes": 60})
        yield w, slack


def requests_in(slack: LoopbackSlack) -> list[dict[str, Any]]:
    return [m for m in slack.messages if m["kind"] == "post" and "waits for approval" in m["text"]]


def test_an_approval_pressed_in_slack_lets_production_traffic_in(slack_gate) -> None:
    w, slack = slack_gate
    # Given ECS called the hook twice: the gate holds, and one approval request with buttons is in Slack
    assert w.hook()["hookStatus"] == "IN_PROGRESS"
    assert w.hook()["hookStatus"] == "IN_PROGRESS"
    [request] = requests_in(slack)
    assert "test traffic" in request["text"]
    # When U0ALICE presses Approve (Slack signs the request) and the approver function takes it
    headers, body = slack.interaction(CHANNEL, request["ts"], "dockhand_approve", "U0ALICE", SIGNING_SECRET)
    reply = w.approver(headers, body)
    assert reply["statusCode"] == 200 and "Approved by U0ALICE" in json.loads(reply["body"])["text"]
    # Then the answer is recorded on the gate, and nothing is released (production is deployed already)
    assert w.gate().status == "approved" and w.gate().decided_by == "U0ALICE"
    assert w.later(1) is None and w.to_deployer() == []
    # And ECS's next call is answered SUCCEEDED, the request message updated in place
    assert w.hook() == {"hookStatus": "SUCCEEDED"}
    updates = [m for m in slack.messages if m["kind"] == "update" and m["ts"] == request["ts"]]
    assert updates and "passed the traffic gate of production" in updates[-1]["text"]


def test_a_member_of_a_declared_slack_user_group_answers_the_gate(stack, walk) -> None:
    with LoopbackSlack() as slack:
        # Given a gate that asks the Slack user group S0RELEASERS, with U0BOB in it
        w = gated(walk, slack_bot(stack, slack), approval={"approvers": ["S0RELEASERS"]})
        slack.usergroups["S0RELEASERS"] = ["U0CAROL", "U0BOB"]
        w.hook()
        [request] = requests_in(slack)
        # When U0BOB presses Approve
        headers, body = slack.interaction(CHANNEL, request["ts"], "dockhand_approve", "U0BOB", SIGNING_SECRET)
        reply = w.approver(headers, body)
        # Then the press counts (Slack was asked who is in the group), and ECS's next call lets traffic in
        assert "Approved by U0BOB" in json.loads(reply["body"])["text"]
        assert "usergroups.users.list" in slack.calls
        assert w.hook() == {"hookStatus": "SUCCEEDED"}


def test_a_forged_press_changes_nothing(slack_gate) -> None:
    w, slack = slack_gate
    w.hook()
    [request] = requests_in(slack)
    headers, body = slack.interaction(CHANNEL, request["ts"], "dockhand_approve", "U0ALICE", "not-the-secret")
    assert w.approver(headers, body)["statusCode"] == 401
    assert w.gate().status == "awaiting_approval"
    assert w.hook()["hookStatus"] == "IN_PROGRESS"


def _decide(w: Walk, decision: str, who: str = APPROVER) -> Any:
    """`dockhand approve|reject`'s answer (the same `decide` the CLI calls, with the watcher's collaborators)."""
    from dockhand.promote.approvals import decide
    from functions.watcher import app

    w.function_env("WatcherFunction", w.config)
    return decide(app.promoter(), "web", DIGEST, "production", decision, who)  # type: ignore[arg-type]


APPROVAL = {"approval": {"approvers": [APPROVER], "expires_minutes": 30}}


def test_a_rejection_fails_the_gate_and_ecs_rolls_back(walk) -> None:
    w = gated(walk, **APPROVAL)
    assert w.hook()["hookStatus"] == "IN_PROGRESS"
    # When a declared approver rejects
    answer = _decide(w, "reject")
    assert answer.ok and "traffic gate" in answer.text
    # Then the next call answers FAILED (ECS rolls back), and people are told why
    assert w.hook() == {"hookStatus": "FAILED"}
    assert w.gate().status == "rejected"
    [failed] = [n["body"] for n in w.notes() if "failed the traffic gate" in json.dumps(n["body"])]
    assert f"rolls the deployment of production back: rejected by {APPROVER}." in json.dumps(failed)


def test_an_unanswered_approval_expires_and_fails_the_gate(walk) -> None:
    w = gated(walk, **APPROVAL)
    assert w.hook()["hookStatus"] == "IN_PROGRESS"
    w.clock.shift(31 * 60)
    assert w.hook() == {"hookStatus": "FAILED"}
    assert w.gate().status == "expired"
    assert "nobody answered the approval request within 30 min" in w.gate().reason
    assert not _decide(w, "approve").ok  # a late answer changes nothing
    assert w.hook() == {"hookStatus": "FAILED"}


def test_approval_and_bake_are_both_needed(walk) -> None:
    # Given a gate that bakes 10 minutes and asks an approval; the approval comes at once
    w = gated(walk, bake_minutes=10, **APPROVAL)
    w.hook()
    assert _decide(w, "approve").ok
    # Then the gate holds until the bake is over, then passes
    assert w.hook()["hookStatus"] == "IN_PROGRESS"
    w.clock.shift(10 * 60)
    assert w.hook() == {"hookStatus": "SUCCEEDED"}
    assert w.gate().reason == f"approved by {APPROVER}"


def test_an_alarm_in_alarm_fails_the_gate(walk) -> None:
    web_5xx_alarm("OK")
    w = gated(walk, bake_minutes=10, alarms=["web-5xx"])
    assert w.hook()["hookStatus"] == "IN_PROGRESS"
    # When the alarm fires on test traffic
    boto3.client("cloudwatch", region_name=REGION).set_alarm_state(
        AlarmName="web-5xx", StateValue="ALARM", StateReason="5xx on test traffic"
    )
    # Then the gate fails at once, without waiting for the bake's end
    assert w.hook() == {"hookStatus": "FAILED"}
    assert w.gate().reason == "alarm web-5xx is ALARM"


def test_a_task_failing_on_test_traffic_fails_the_gate(walk) -> None:
    w = gated(walk, bake_minutes=10)
    assert w.hook()["hookStatus"] == "IN_PROGRESS"
    # When a task of prod/web crashes (the watcher opens its alert window)
    w.task_failed("prod")
    # Then the gate fails and says why
    assert w.hook() == {"hookStatus": "FAILED"}
    assert w.gate().status == "failed"
    assert w.gate().reason.startswith("a task of prod/web failed on test traffic (")


@pytest.mark.parametrize("sample", ["production-traffic-shift-rollback", "test-traffic-shift-rollback"])
def test_a_rollback_is_never_held(walk, sample: str) -> None:
    # Given a gate waiting for an approval
    w = gated(walk, **APPROVAL)
    w.hook()
    # When ECS rolls back and calls the hook of a traffic-shift stage (the target revision at 0%)
    # Then the hook answers SUCCEEDED and the gate is left as it is
    assert w.hook(sample) == {"hookStatus": "SUCCEEDED"}
    assert w.gate().status == "awaiting_approval"


@pytest.mark.parametrize(
    ("service", "operation"),
    [
        ("ecs", "DescribeServices"),
        ("ecs", "DescribeTaskDefinition"),
        ("dynamodb", "GetItem"),
        ("dynamodb", "Query"),
        ("cloudwatch", "DescribeAlarms"),
        ("dynamodb", "UpdateItem"),
        ("sns", "Publish"),
    ],
)
def test_a_throttled_call_answers_in_progress_and_the_next_call_finishes_once(
    walk, service: str, operation: str
) -> None:
    from dockhand import deps

    web_5xx_alarm("OK")
    w = gated(walk, bake_minutes=5, alarms=["web-5xx"])
    w.hook()
    w.clock.shift(5 * 60)

    def throttled() -> None:
        client = deps.table().raw.meta.client if service == "dynamodb" else deps.client(service)
        client.meta.events.register("before-call", throttle(operation))

    # When AWS throttles one call of the call that would pass the gate
    answer = w.hook(before=throttled)
    # Then the hook answers IN_PROGRESS (try again in 30 s) instead of failing the deployment
    assert answer == {"hookStatus": "IN_PROGRESS", "callBackDelay": 30}
    # And ECS's next call finishes: the gate passes, said once
    assert w.hook() == {"hookStatus": "SUCCEEDED"}
    assert w.gate().status == "passed"
    assert [k for k, _ in gate_notes(w)] == ["promotion_released"]


def test_concurrent_first_calls_hold_one_gate_and_ask_once(walk, monkeypatch) -> None:
    from dockhand.state.promotions import TrafficGates

    w = gated(walk, **APPROVAL)
    assert w.hook()["hookStatus"] == "IN_PROGRESS"
    first = w.gate()
    # Given a second first call that read no gate before the first one wrote it (the race of two calls)
    real_get, raced = TrafficGates.get, {"done": False}

    def get_once_missing(self: TrafficGates, *args: Any) -> Any:
        if not raced["done"]:
            raced["done"] = True
            return None
        return real_get(self, *args)

    monkeypatch.setattr(TrafficGates, "get", get_once_missing)
    assert w.hook()["hookStatus"] == "IN_PROGRESS"
    # Then its conditional write lost: one gate (the first one's), and one approval request
    assert w.gate().started_at == first.started_at and w.gate().approval_expires == first.approval_expires
    assert [k for k, _ in gate_notes(w)].count("promotion_approval") == 1


def test_a_service_with_no_gate_declared_is_refused(walk) -> None:
    # Given production deployed without a traffic gate, whose service calls the hook all the same
    w = walk(bake_minutes=1)
    w.deployed_to_production()
    # Then the hook fails closed and says what to declare
    assert w.hook() == {"hookStatus": "FAILED"}
    refused = [n for n in w.notes() if "refused by the traffic gate" in n["body"]["content"]["title"]]
    assert refused and "declares no traffic_gate" in json.dumps(refused[0]["body"])


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"lifecycleStage": "POST_TEST_TRAFFIC_SHIFT"}, "executionId"),
        ({"executionId": "x", "lifecycleStage": "POST_TEST_TRAFFIC_SHIFT", "executionDetails": {}}, "serviceArn"),
    ],
)
def test_a_payload_that_breaks_the_contract_answers_failed_naming_the_field(
    walk, payload: dict[str, Any], field: str, caplog
) -> None:
    from dockhand_local.lambda_context import LambdaContext
    from functions.hook import app

    w = walk()
    w.function_env("HookFunction", w.config)
    # When ECS's call carries a payload without `field`
    # Then the hook answers FAILED (never an exception), and its log line names the field
    assert app.lambda_handler(payload, LambdaContext()) == {"hookStatus": "FAILED"}
    [refused] = [r for r in caplog.records if r.getMessage() == "lifecycle hook payload refused"]
    assert refused.error.startswith("lifecycle hook payload: ") and field in refused.error


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=8,
)
PATHS = [
    ("executionId",),
    ("lifecycleStage",),
    ("resourceArn",),
    ("executionDetails",),
    ("executionDetails", "serviceArn"),
    ("executionDetails", "targetServiceRevisionArn"),
    ("executionDetails", "testTrafficWeights"),
    ("executionDetails", "productionTrafficWeights"),
    ("hookDetails",),
]


def test_whatever_the_payload_the_hook_answers_and_never_raises(walk) -> None:
    from hypothesis import HealthCheck, given, settings

    from dockhand_local.lambda_context import LambdaContext
    from functions.hook import app
    from tests.support.events import load_event

    # Given production deployed behind a gate that waits for an approval
    w = gated(walk, **APPROVAL)
    assert w.hook()["hookStatus"] == "IN_PROGRESS"
    sample = load_event("hooks/post-test-traffic-shift")

    @settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(st.tuples(st.sampled_from(PATHS), JSON | st.just(DROP)), min_size=1, max_size=3))
    def each(changes: list[tuple[tuple[str, ...], Any]]) -> None:
        event = copy.deepcopy(sample)
        for path, value in changes:
            node = event
            for part in path[:-1]:
                node = node.setdefault(part, {}) if isinstance(node, dict) else {}
            if isinstance(node, dict):
                node.pop(path[-1], None) if value is DROP else node.__setitem__(path[-1], value)
        # When ECS (or anything) calls the hook with it
        answer = app.lambda_handler(event, LambdaContext())
        # Then the answer is one ECS reads, and the gate never passes on a payload that is not ECS's
        assert set(answer) <= {"hookStatus", "callBackDelay"} and answer["hookStatus"] in STATUSES, answer
        assert w.gate().status == "awaiting_approval"

    each()


DROP = object()
STATUSES = ("SUCCEEDED", "FAILED", "IN_PROGRESS")
