"""Whatever a notification holds, what the SNS channel publishes is valid: an ASCII one-line subject under 100
characters, and message plus attributes within 256 KB. Ordinary notifications are published untouched."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from dockhand.notify.model import Link, Notification
from dockhand.notify.sns import PUBLISH_MAX, SnsChannel, chat_body, subject_of


class RecordingSns:
    """The one SNS call the channel makes, kept as sent (botocore's own checks are what moto would apply)."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def publish(self, **kwargs: Any) -> dict[str, Any]:
        self.sent.append(kwargs)
        return {"MessageId": "m-1"}


def _published_size(call: dict[str, Any]) -> int:
    attributes = call["MessageAttributes"]
    return (
        len(call["Message"].encode())
        + len(call["Subject"].encode())
        + sum(len(k) + len(v["DataType"]) + len(v["StringValue"].encode()) for k, v in attributes.items())
    )


_any_text = st.text(max_size=300)
_huge_text = st.one_of(_any_text, st.builds(lambda c, n: c * n, st.characters(), st.integers(1, 60_000)))


@settings(max_examples=150, deadline=None)
@given(
    title=_huge_text,
    text=_huge_text,
    fields=st.dictionaries(st.text(max_size=30), _huge_text, max_size=25),
    cluster=st.one_of(st.none(), _huge_text),
)
def test_any_notification_publishes_a_valid_subject_and_a_message_within_256_kb(
    title: str, text: str, fields: dict[str, str], cluster: str | None
) -> None:
    # Given any notification (unicode, newlines, control characters, values of any length)
    n = Notification(kind="task_failed", severity="error", title=title, text=text, fields=fields, cluster=cluster)
    sns = RecordingSns()
    # When the SNS channel sends it
    SnsChannel(sns, "arn:aws:sns:us-east-1:123456789012:t").send(n)
    # Then the subject is printable ASCII, one line, 1-99 characters, and everything fits SNS's 256 KB
    [call] = sns.sent
    subject = call["Subject"]
    assert 0 < len(subject) < 100 and all(" " <= c <= "~" for c in subject) and subject.strip() == subject
    assert _published_size(call) <= PUBLISH_MAX
    assert json.loads(call["Message"])["content"]["title"]


def test_a_lone_surrogate_in_an_attribute_is_sent_as_a_question_mark() -> None:
    # Given a notification whose cluster name came from JSON with an escaped lone surrogate
    n = Notification(kind="task_failed", severity="error", title="t", text="x", cluster="prod-\ud800")
    sns = RecordingSns()
    # When the SNS channel sends it
    SnsChannel(sns, "arn:aws:sns:us-east-1:123456789012:t").send(n)
    # Then the attribute is valid UTF-8, the surrogate replaced
    [call] = sns.sent
    assert call["MessageAttributes"]["cluster"]["StringValue"] == "prod-?"


def test_an_ordinary_notification_is_published_untouched() -> None:
    # Given the notification of a crashed service (a real-sized one)
    n = Notification(
        kind="task_failed",
        severity="error",
        title="example-api-v1: out of memory (exit 137)",
        text="OutOfMemoryError: Container killed due to memory usage",
        fields={"Cluster": "test", "Reason": "OutOfMemoryError: Container killed due to memory usage"},
        links=[Link(label="ECS console", url="https://eu-central-1.console.aws.amazon.com/ecs/v2/clusters/test")],
        cluster="test",
        service="example-api-v1",
    )
    sns = RecordingSns()
    SnsChannel(sns, "arn:aws:sns:us-east-1:123456789012:t").send(n)
    # Then subject and body are exactly the title and the full chat body
    [call] = sns.sent
    assert call["Subject"] == n.title
    assert json.loads(call["Message"]) == chat_body(n)


def test_subjects_from_titles_that_sns_would_refuse() -> None:
    assert subject_of("web: déploiement\nfailed\t(exit 1)") == "web: deploiement failed (exit 1)"
    assert subject_of("  \n\u200b ") == "Dockhand notification"
    assert subject_of("x" * 120) == "x" * 96 + "..."
    assert subject_of("🚀 web → prod") == "web prod"
