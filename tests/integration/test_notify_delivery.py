"""Delivering a notification once per channel (moto's DynamoDB and SNS, the loopback Slack in bot mode), when the
write that records a delivery fails, when a channel fails, and when Slack's message reference cannot be saved."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from dockhand.errors import RetryableError
from dockhand.notify.delivery import NotDelivered, deliver, deliver_or_retry
from dockhand.notify.model import Notification
from dockhand.notify.notifier import Notifier
from dockhand.notify.slack import SlackChannel, SlackRefs
from dockhand.notify.sns import SnsChannel
from dockhand.state.deliveries import Deliveries
from dockhand.state.table import Table
from dockhand_local.slack import LoopbackSlack

REGION = "us-east-1"
KEY = "task/arn:aws:ecs:us-east-1:123456789012:task/prod/abc/3"


@pytest.fixture
def slack() -> Iterator[LoopbackSlack]:
    with LoopbackSlack() as server:
        yield server


@pytest.fixture
def table(stack: Any) -> Table:
    return Table(boto3.resource("dynamodb", region_name=REGION), stack.table_name)


@pytest.fixture
def published(stack: Any) -> Callable[[], list[dict[str, Any]]]:
    """Every message published to the stack's topic so far (read from a subscribed queue)."""
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName="topic-inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    boto3.client("sns", region_name=REGION).subscribe(TopicArn=stack.topic_arn, Protocol="sqs", Endpoint=arn)
    seen: list[dict[str, Any]] = []

    def read() -> list[dict[str, Any]]:
        while msgs := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            for m in msgs:
                seen.append(json.loads(json.loads(m["Body"])["Message"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return seen

    return read


def notifier(stack: Any, slack: LoopbackSlack, table: Table, mode: str = "bot") -> Notifier:
    creds = (
        {"bot_token": "xoxb-test", "api_url": slack.api_url} if mode == "bot" else {"webhook_url": slack.webhook_url}
    )
    channels = [
        SnsChannel(boto3.client("sns", region_name=REGION), stack.topic_arn),
        SlackChannel(lambda: creds, refs=SlackRefs(table), channel="C0ALERTS", mode=mode),
    ]
    return Notifier(channels)


def alert(**extra: Any) -> Notification:
    return Notification(kind="task_failed", severity="error", title="web: out of memory (exit 137)", **extra)


def fail_once(table: Table, operation: str, *, skip: int = 0) -> list[int]:
    """Make one call of `operation` on the table's client fail (after `skip` calls went through), as a
    throttled DynamoDB does; returns the list of calls seen, to show the fault fired."""
    seen: list[int] = []

    def hook(model: Any, **_: Any) -> None:
        if model.name != operation:
            return
        seen.append(1)
        if len(seen) == skip + 1:
            error = {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}
            raise ClientError({**error, "ResponseMetadata": {"HTTPStatusCode": 400}}, operation)

    table.raw.meta.client.meta.events.register(f"before-call.dynamodb.{operation}", hook)
    return seen


def test_when_recording_the_delivery_fails_the_redelivery_sends_nothing_again(stack, slack, table, published) -> None:
    # Given SNS and Slack (bot) as channels, and the write that records their deliveries failing once
    channels = notifier(stack, slack, table)
    # (the write that opens the claim marks them as being sent; this one records what they answered)
    calls = fail_once(table, "UpdateItem")
    # When the notification is delivered, and the message that caused it is delivered again after the failure
    with pytest.raises(RetryableError):
        deliver_or_retry(channels, Deliveries(table), KEY, alert())
    deliver_or_retry(channels, Deliveries(table), KEY, alert())
    # Then each channel delivered it exactly once: SNS was not published again, Slack found its own message
    assert len(calls) >= 1
    assert [m["content"]["title"] for m in published()] == [":rotating_light: web: out of memory (exit 137)"]
    assert [m["kind"] for m in slack.messages] == ["post"]
    assert slack.messages[0]["metadata"]["event_payload"]["key"] == KEY
    # And a third delivery finds the notification done and sends nothing
    assert deliver(channels, Deliveries(table), KEY, alert()) == []
    assert len(published()) == 1 and len(slack.messages) == 1


def test_a_first_delivery_writes_its_claim_twice_opened_with_its_channels_marked_then_done(stack, slack, table) -> None:
    # Given SNS and a Slack webhook (which keeps no message reference), and every write to the table counted
    channels = notifier(stack, slack, table, mode="webhook")
    writes: list[tuple[str, dict[str, Any]]] = []

    def count(model: Any, params: dict[str, Any], **_: Any) -> None:
        writes.append((model.name, params))

    table.raw.meta.client.meta.events.register("before-call.dynamodb.*", count)
    # When a notification is delivered for the first time
    assert deliver(channels, Deliveries(table), KEY, alert()) == []
    # Then its claim was written twice: created with both channels marked as being sent, then finished
    assert [name for name, _ in writes] == ["PutItem", "UpdateItem"]
    created = json.loads(writes[0][1]["body"])["Item"]["steps"]["M"]
    assert set(created) == {"sending:sns", "sending:slack"}
    # And each channel sent it once
    assert len(slack.messages) == 1


def test_a_slack_post_not_recorded_and_not_found_is_posted_again(stack, slack, table, published) -> None:
    # Given an attempt that marked Slack as being sent and then died before posting (nothing in the channel)
    Deliveries(table).open(KEY).take({"sending:slack": 1793610000})
    channels = notifier(stack, slack, table)
    # When the message is delivered again
    failed = deliver(channels, Deliveries(table), KEY, alert())
    # Then Slack was looked up, nothing was found, and the notification was posted once; SNS once too
    assert failed == []
    assert [m["kind"] for m in slack.messages] == ["post"]
    assert len(published()) == 1


def test_a_webhook_cannot_be_asked_so_a_begun_send_counts_as_delivered(stack, slack, table, published) -> None:
    # Given a webhook channel an earlier attempt began to send on without recording what came back
    Deliveries(table).open(KEY).take({"sending:slack": 1793610000, "sending:sns": 1793610000})
    channels = notifier(stack, slack, table, mode="webhook")
    # When the message is delivered again
    assert deliver(channels, Deliveries(table), KEY, alert()) == []
    # Then neither channel sends it a second time (neither can be asked; the send was begun and did not fail)
    assert slack.messages == [] and published() == []
    assert Deliveries(table).open(KEY).done


def test_a_failed_channel_is_tried_again_and_the_delivered_one_is_not(stack, slack, table, published) -> None:
    # Given Slack down for the next request
    channels = notifier(stack, slack, table)
    slack.fail_next(1, status=503)
    # When the notification is delivered, fails on Slack, and is delivered again
    with pytest.raises(NotDelivered):
        deliver_or_retry(channels, Deliveries(table), KEY, alert())
    deliver_or_retry(channels, Deliveries(table), KEY, alert())
    # Then SNS published once and Slack posted once
    assert len(published()) == 1
    assert [m["kind"] for m in slack.messages] == ["post"]


def test_a_reference_that_could_not_be_saved_is_found_by_the_message_metadata(stack, slack, table) -> None:
    # Given a deploy's start posted by the bot while saving its message reference failed
    channels = notifier(stack, slack, table)
    fail_once(table, "PutItem", skip=1)  # the first opens the delivery's claim, the second saves the reference
    start = Notification(kind="deploy_started", title="Deploying web:2.1.0 to web", update_key="deploy/ecs-svc/1")
    assert deliver(channels, Deliveries(table), "push/e-1/web/deploy_started", start) == []
    assert SlackRefs(table).get("deploy/ecs-svc/1") is None
    # When the deploy's outcome updates that message
    done = Notification(
        kind="deploy_completed",
        title="web: deploy of web:2.1.0 completed",
        update_key="deploy/ecs-svc/1",
        role="update",
    )
    assert deliver(channels, Deliveries(table), "deploy/ecs-svc/1/COMPLETED", done) == []
    # Then the start message was posted once and updated in place, not posted twice
    assert [m["kind"] for m in slack.messages] == ["post", "update"]
    assert slack.messages[1]["ts"] == slack.messages[0]["ts"]
    assert slack.messages[1]["text"].endswith("web: deploy of web:2.1.0 completed")


def test_an_update_whose_outcome_was_not_recorded_is_found_applied(stack, slack, table) -> None:
    # Given a start message and an update of it whose recording failed
    channels = notifier(stack, slack, table)
    start = Notification(kind="deploy_started", title="Deploying web:2.1.0 to web", update_key="deploy/ecs-svc/2")
    deliver(channels, Deliveries(table), "push/e-2/web/deploy_started", start)
    done = Notification(
        kind="deploy_completed",
        title="web: deploy of web:2.1.0 completed",
        update_key="deploy/ecs-svc/2",
        role="update",
    )
    fail_once(table, "UpdateItem")  # the one that records what the channels answered
    with pytest.raises(RetryableError):
        deliver(channels, Deliveries(table), "deploy/ecs-svc/2/COMPLETED", done)
    # When it is delivered again
    deliver(channels, Deliveries(table), "deploy/ecs-svc/2/COMPLETED", done)
    # Then the message was updated once
    assert [m["kind"] for m in slack.messages] == ["post", "update"]


def test_a_channel_given_by_name_cannot_be_read_back_so_nothing_fails_and_nothing_is_sent_twice(
    stack, slack, table
) -> None:
    # Given the bot posting to a channel given by name (Slack reads history by channel id only)
    named = Notifier(
        [SlackChannel(lambda: {"bot_token": "x", "api_url": slack.api_url}, SlackRefs(table), "#deploys", "bot")]
    )
    # When an outcome arrives for a message whose reference was never saved
    done = Notification(kind="deploy_completed", title="web: deployed", update_key="deploy/ecs-svc/9", role="update")
    # Then it is posted as a new message rather than failing
    assert deliver(named, Deliveries(table), "deploy/ecs-svc/9/COMPLETED", done) == []
    assert [m["kind"] for m in slack.messages] == ["post"]
    # And a send begun but never recorded is taken as delivered (it cannot be looked up), not posted again
    Deliveries(table).open("task/x/1").take({"sending:slack": 1793610000})
    assert deliver(named, Deliveries(table), "task/x/1", alert()) == []
    assert len(slack.messages) == 1
