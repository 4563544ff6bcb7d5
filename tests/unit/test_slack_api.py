"""The Slack HTTP client against the loopback Slack: what it sends, what it raises, and that it never sends twice."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dockhand.notify import slack_api
from dockhand.notify.slack_api import SlackApiError, WebClient, WebhookClient
from dockhand_local.slack import LoopbackSlack


@pytest.fixture
def slack() -> Iterator[LoopbackSlack]:
    with LoopbackSlack() as server:
        yield server


def test_a_webhook_post_carries_the_text_and_the_blocks(slack: LoopbackSlack) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*api* stopped"}}]
    # When a message is posted to the webhook
    response = WebhookClient(slack.webhook_url, timeout=5).send(text="api stopped", blocks=blocks, unfurl_links=False)
    # Then Slack answers 200 and has the message as sent
    assert (response.status_code, response.body) == (200, "ok")
    assert [(m["kind"], m["text"], m["blocks"]) for m in slack.messages] == [("webhook", "api stopped", blocks)]


def test_chat_post_and_update_answer_slack_s_fields(slack: LoopbackSlack) -> None:
    client = WebClient(token="xoxb-test", timeout=5, base_url=slack.api_url)
    # When a message is posted, then edited
    posted = client.chat_postMessage(channel="C1", text="deploying")
    updated = client.chat_update(channel="C1", ts=posted["ts"], text="deployed")
    # Then both answers carry the channel and the message's ts, and Slack holds the post and its edit
    assert posted.get("channel") == "C1" and updated.get("ts") == posted["ts"]
    assert [(m["kind"], m["text"]) for m in slack.messages] == [("post", "deploying"), ("update", "deployed")]


def test_an_answer_that_is_not_ok_raises_with_the_response(slack: LoopbackSlack) -> None:
    client = WebClient(token="xoxb-SECRET", timeout=5, base_url=slack.api_url)
    # When Slack answers 200 with ok: false
    with pytest.raises(SlackApiError) as raised:
        client.chat_update(channel="C1", ts="1.0", text="nope")
    # Then the error carries the status and Slack's error, and never the token
    assert (raised.value.response.status_code, raised.value.response.get("error")) == (200, "message_not_found")
    assert "xoxb-SECRET" not in str(raised.value)


@pytest.mark.parametrize("status", [500, 429])
def test_a_failed_request_is_sent_once(slack: LoopbackSlack, status: int) -> None:
    client = WebClient(token="xoxb-test", timeout=5, base_url=slack.api_url)
    slack.fail_next(2, status=status)
    # When Slack fails the request
    with pytest.raises(SlackApiError) as raised:
        client.chat_postMessage(channel="C1", text="hello")
    # Then the status is reported, and the request was not repeated (the second failure is still pending)
    assert raised.value.response.status_code == status
    assert WebhookClient(slack.webhook_url, timeout=5).send(text="next").status_code == status
    assert slack.messages == []


def test_a_proxy_in_the_environment_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    slack_api._pool.cache_clear()
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    try:
        # When the pool is made with HTTPS_PROXY set / Then requests go through that proxy
        pool = slack_api._pool()
        assert getattr(pool, "proxy", None) is not None and pool.proxy.host == "proxy.internal"
    finally:
        slack_api._pool.cache_clear()
