"""Claims in the state table (moto): lease, recorded steps, stored result, resumption and takeover."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from dockhand.state.claims import ClaimBusy, ClaimLost, Claims, current_delivery
from dockhand.state.table import Table

REGION = "us-east-1"


@pytest.fixture
def table(stack: Any) -> Table:
    return Table(boto3.resource("dynamodb", region_name=REGION), stack.table_name)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_a_new_claim_records_steps_and_the_same_delivery_resumes_them(table: Table) -> None:
    # Given a delivery that opened a claim and did one step of two
    claims = Claims(table, "push", owner="message-1")
    first = claims.open("svc#sha256:aa")
    assert first.state == "new"
    first.record("registered", "arn:td/web:7")
    # When SQS redelivers the same message
    again = Claims(table, "push", owner="message-1").open("svc#sha256:aa")
    # Then it resumes with the step and its result, and runs only what is left
    assert again.state == "resumed"
    ran: list[str] = []
    assert again.once("registered", lambda: ran.append("register") or "other") == "arn:td/web:7"
    assert again.once("updated", lambda: ran.append("update") or "ecs-svc/1") == "ecs-svc/1"
    assert ran == ["update"]


def test_steps_given_to_open_are_recorded_by_a_new_claim_only(table: Table) -> None:
    # Given a claim opened with a step, as its creating write records it
    first = Claims(table, "notify", owner="n").open("key-1", {"sending:sns": 1793610000})
    assert first.state == "new" and first.get("sending:sns") == 1793610000
    assert (table.get("CLAIM#notify#key-1", "CLAIM") or {})["steps"] == {"sending:sns": 1793610000}
    # When it is opened again with other steps
    again = Claims(table, "notify", owner="n").open("key-1", {"sending:sns": 1793619999, "sending:slack": 1})
    # Then it resumes as it was stored: the steps of a later open are not recorded
    assert again.state == "resumed" and again.steps == {"sending:sns": 1793610000}
    assert (table.get("CLAIM#notify#key-1", "CLAIM") or {})["steps"] == {"sending:sns": 1793610000}


def test_another_delivery_waits_while_the_lease_is_live_and_takes_over_once_it_ran_out(table: Table) -> None:
    clock = Clock()
    Claims(table, "task", owner="message-1", now=clock).open("arn:task/1#3").record("decided", "alert")
    # When a second delivery of the same event arrives while the first one's lease is live
    with pytest.raises(ClaimBusy):
        Claims(table, "task", owner="message-2", now=clock).open("arn:task/1#3")
    # Then after the lease ran out it takes the claim over, with what the first one recorded
    clock.now += timedelta(minutes=11)
    taken = Claims(table, "task", owner="message-2", now=clock).open("arn:task/1#3")
    assert taken.state == "resumed" and taken.get("decided") == "alert"
    # And the first delivery, coming back, can no longer write
    stale = Claims(table, "task", owner="message-1", now=clock)
    with pytest.raises(ClaimLost):
        stale.peek("arn:task/1#3").record("alerted", True)  # type: ignore[union-attr]


def test_a_finished_claim_gives_its_result_to_every_later_delivery(table: Table) -> None:
    claim = Claims(table, "run", owner="m-1").open("report#42#1")
    claim.once("launched", lambda: "arn:task/abc")
    claim.finish({"status": "succeeded"})
    # When the same input arrives again, from any delivery
    later = Claims(table, "run", owner="m-9").open("report#42#1")
    # Then it is done, with the stored result and steps; nothing is taken
    assert later.done and later.result == {"status": "succeeded"} and later.get("launched") == "arn:task/abc"


def test_a_resumed_claim_finds_what_an_earlier_attempt_did_but_could_not_record(table: Table) -> None:
    Claims(table, "restart", owner="m-1").open("chain#1")  # the attempt died after RunTask, before recording it
    resumed = Claims(table, "restart", owner="m-1").open("chain#1")
    launched: list[str] = []
    # When the step is run again with a way to find the earlier effect
    arn = resumed.once("launched", lambda: launched.append("run") or "arn:new", find=lambda: "arn:found")
    # Then the earlier effect is recorded and nothing is launched
    assert arn == "arn:found" and launched == []
    assert Claims(table, "restart", owner="m-1").peek("chain#1").get("launched") == "arn:found"  # type: ignore[union-attr]


def test_a_new_claim_never_asks_find_and_the_owner_defaults_to_the_delivery(table: Table) -> None:
    token = current_delivery.set("sqs-message-7")
    try:
        claims = Claims(table, "notify")
        claim = claims.open("key")
        asked: list[str] = []
        claim.once("sent", lambda: "ref", find=lambda: asked.append("find") or "found")
        assert asked == [] and claims.owner == "sqs-message-7"
        assert table.get("CLAIM#notify#key", "CLAIM")["owner"] == "sqs-message-7"  # type: ignore[index]
    finally:
        current_delivery.reset(token)


def test_several_steps_are_recorded_and_dropped_in_one_write(table: Table) -> None:
    # Given a claim with one step recorded
    claim = Claims(table, "notify", owner="m-1").open("key")
    claim.record("sending:sns", 1)
    # When two steps are recorded and the first dropped in one write
    claim.record_steps({"sns": "msg-1", "slack": "C1/1.0"}, forget=["sending:sns"])
    # Then the stored claim holds exactly the recorded steps
    stored = Claims(table, "notify", owner="m-1").open("key")
    assert stored.steps == {"sns": "msg-1", "slack": "C1/1.0"}


def test_take_records_steps_only_when_none_of_them_is_recorded(table: Table) -> None:
    # Given a claim whose step `sending:slack` was taken by an earlier attempt
    Claims(table, "notify", owner="m-1").open("key").take({"sending:slack": 100})
    claim = Claims(table, "notify", owner="m-1").open("key")
    # When it is taken again together with another step
    taken = claim.take({"sending:slack": 200, "sending:sns": 200})
    # Then nothing is written, and the claim shows what is stored
    assert taken is False
    assert claim.steps == {"sending:slack": 100}
    # And steps nobody took are taken
    assert claim.take({"sending:sns": 300}) is True
    assert Claims(table, "notify", owner="m-1").peek("key").steps == {"sending:slack": 100, "sending:sns": 300}  # type: ignore[union-attr]


def test_a_claim_remembers_who_opened_it_when_another_delivery_takes_it_over(table: Table) -> None:
    clock = Clock()
    Claims(table, "deploy", owner="push-a", now=clock).open("svc@0")
    # When another owner takes the claim over after the lease ran out
    clock.now += timedelta(minutes=11)
    taken = Claims(table, "deploy", owner="push-b", now=clock).open("svc@0")
    # Then the claim says who opened it
    assert taken.state == "resumed" and taken.opened_by == "push-a"
    # And a take by a delivery that lost the lease is refused
    with pytest.raises(ClaimLost):
        Claims(table, "deploy", owner="push-a", now=clock).peek("svc@0").take({"x": 1})  # type: ignore[union-attr]
