"""The loopback Slack answers the Web API methods Dockhand calls as Slack does (driven through slack_sdk)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from dockhand_local.slack import LoopbackSlack

META = {"event_type": "dockhand_notification", "event_payload": {"key": "task/abc/3"}}


@pytest.fixture
def client() -> Iterator[WebClient]:
    with LoopbackSlack() as server:
        yield WebClient(token="xoxb-test", base_url=server.api_url)


def test_history_is_newest_first_and_shows_metadata_only_when_asked(client: WebClient) -> None:
    # Given two messages in a channel, the second with metadata
    first = client.chat_postMessage(channel="C1", text="one")
    second = client.chat_postMessage(channel="C1", text="two", metadata=META)
    assert second["message"]["metadata"] == META
    # When the history is read with and without include_all_metadata
    plain = client.conversations_history(channel="C1")
    full = client.conversations_history(channel="C1", include_all_metadata=True)
    # Then both list the messages newest first, and only the second read carries the metadata
    assert [m["ts"] for m in plain["messages"]] == [second["ts"], first["ts"]]
    assert all("metadata" not in m for m in plain["messages"])
    assert full["messages"][0]["metadata"] == META and "metadata" not in full["messages"][1]
    assert float(second["ts"]) > float(first["ts"])


def test_history_pages_and_bounds_by_timestamps(client: WebClient) -> None:
    posted = [client.chat_postMessage(channel="C1", text=str(i))["ts"] for i in range(5)]
    # When read two at a time, following the cursor
    page = client.conversations_history(channel="C1", limit=2)
    assert [m["text"] for m in page["messages"]] == ["4", "3"] and page["has_more"]
    rest = client.conversations_history(channel="C1", limit=2, cursor=page["response_metadata"]["next_cursor"])
    assert [m["text"] for m in rest["messages"]] == ["2", "1"]
    # And bounded to one message by oldest = latest with inclusive, as Slack fetches a single message
    one = client.conversations_history(channel="C1", oldest=posted[2], latest=posted[2], inclusive=True, limit=1)
    assert [m["text"] for m in one["messages"]] == ["2"]
    # And exclusive bounds leave the bounding messages out
    between = client.conversations_history(channel="C1", oldest=posted[1], latest=posted[3])
    assert [m["text"] for m in between["messages"]] == ["2"]


def test_replies_stay_out_of_history_and_are_read_with_their_thread(client: WebClient) -> None:
    parent = client.chat_postMessage(channel="C1", text="alert")
    client.chat_postMessage(channel="C1", text="summary", thread_ts=parent["ts"], metadata=META)
    # Then history shows the parent only, with its reply count, and the thread shows both, parent first
    (top,) = client.conversations_history(channel="C1")["messages"]
    assert top["ts"] == parent["ts"] and top["reply_count"] == 1
    thread = client.conversations_replies(channel="C1", ts=parent["ts"], include_all_metadata=True)["messages"]
    assert [m["text"] for m in thread] == ["alert", "summary"] and thread[1]["metadata"] == META


def test_an_update_replaces_content_and_metadata_of_a_message_in_its_channel(client: WebClient) -> None:
    posted = client.chat_postMessage(channel="C1", text="deploying", metadata=META)
    newer = {"event_type": "dockhand_notification", "event_payload": {"key": "deploy/1/COMPLETED"}}
    client.chat_update(channel="C1", ts=posted["ts"], text="deployed", metadata=newer)
    (message,) = client.conversations_history(channel="C1", include_all_metadata=True)["messages"]
    assert (message["text"], message["metadata"]) == ("deployed", newer)
    # And a message of another channel cannot be updated
    with pytest.raises(SlackApiError) as caught:
        client.chat_update(channel="C2", ts=posted["ts"], text="nope")
    assert caught.value.response["error"] == "message_not_found"


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda c: c.chat_postMessage(channel="C1", text="x", metadata={"event_type": "t"}), "invalid_metadata_format"),
        (lambda c: c.conversations_history(channel="#deploys"), "channel_not_found"),
        (lambda c: c.conversations_replies(channel="C1", ts="1.000001"), "thread_not_found"),
    ],
)
def test_what_slack_refuses_the_loopback_refuses(client: WebClient, call, error: str) -> None:
    with pytest.raises(SlackApiError) as caught:
        call(client)
    assert caught.value.response["error"] == error
