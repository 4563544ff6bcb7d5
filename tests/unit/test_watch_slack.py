"""The Slack channel against the loopback Slack: both modes, outages, and errors that never quote a secret."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dockhand.notify.model import Notification
from dockhand.notify.slack import SlackChannel
from dockhand_local.slack import LoopbackSlack

TOKEN = "xoxb-9999-SECRET"


@pytest.fixture
def slack() -> Iterator[LoopbackSlack]:
    with LoopbackSlack() as server:
        yield server


def note() -> Notification:
    return Notification(
        kind="task_failed",
        severity="error",
        title="api: out of memory (exit 137)",
        text="app exited 137",
        fields={"Cluster": "prod"},
    )


def test_webhook_mode_posts_block_kit(slack: LoopbackSlack) -> None:
    channel = SlackChannel(lambda: {"webhook_url": slack.webhook_url}, mode="webhook")
    delivery = channel.send(note())
    assert delivery.ok
    [message] = slack.messages
    assert message["kind"] == "webhook"
    assert message["blocks"][0]["text"]["text"] == "api: out of memory (exit 137)"
    assert "out of memory" in message["text"]


def test_bot_mode_posts_to_its_channel(slack: LoopbackSlack) -> None:
    channel = SlackChannel(lambda: {"bot_token": TOKEN, "api_url": slack.api_url}, channel="C42", mode="bot")
    delivery = channel.send(note())
    assert delivery.ok and delivery.ref == f"C42/{slack.messages[0]['ts']}"
    assert slack.messages[0]["channel"] == "C42"


@pytest.mark.parametrize("mode", ["webhook", "bot"])
@pytest.mark.parametrize("status", [500, 503, 429])
def test_an_outage_is_a_failed_delivery_that_names_no_secret(slack: LoopbackSlack, mode: str, status: int) -> None:
    creds = {"webhook_url": slack.webhook_url} if mode == "webhook" else {"bot_token": TOKEN, "api_url": slack.api_url}
    channel = SlackChannel(lambda: creds, channel="C1", mode=mode)
    slack.fail_next(5, status=status)
    delivery = channel.send(note())
    assert not delivery.ok
    assert TOKEN not in (delivery.error or "") and slack.base_url not in (delivery.error or "")


def test_an_unreachable_slack_is_a_failed_delivery(slack: LoopbackSlack) -> None:
    url = slack.webhook_url
    slack.stop()
    delivery = SlackChannel(lambda: {"webhook_url": url}).send(note())
    assert not delivery.ok
    assert url not in (delivery.error or "")


def test_bot_mode_without_a_token_says_what_is_missing() -> None:
    delivery = SlackChannel(lambda: {"webhook_url": ""}, mode="bot").send(note())
    assert not delivery.ok and "bot_token" in (delivery.error or "")


def test_the_loopback_rejects_an_update_of_an_unknown_message(slack: LoopbackSlack) -> None:
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError

    client = WebClient(token=TOKEN, base_url=slack.api_url)
    posted = client.chat_postMessage(channel="C1", text="hello")
    assert client.chat_update(channel="C1", ts=posted["ts"], text="bye")["ok"]
    with pytest.raises(SlackApiError):
        client.chat_update(channel="C1", ts="1.0", text="nope")
    assert [m["kind"] for m in slack.messages] == ["post", "update"]
