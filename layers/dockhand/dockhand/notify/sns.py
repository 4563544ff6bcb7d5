"""SNS channel: subject + filterable attributes + a body Amazon Q Developer in chat renders (custom notification).

Whatever a notification holds, what is published is valid: the subject is printable ASCII on one line and under
100 characters, and message plus attributes stay within SNS's 256 KB (long values are cut only when they would
not fit). A notification can never fail on SNS for its content, so its message is never retried for it.
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any

from dockhand.aws.protocols import SnsClient
from dockhand.notify.model import EMOJI, Delivery, Notification

SUBJECT_MAX = 99  # "less than 100 characters"
PUBLISH_MAX = 256 * 1024  # message, subject and attributes together
ATTRIBUTE_MAX = 256  # characters of one attribute value (longer than any ECS name or job name)
_CUTS = (None, 1000, 100, 0)  # characters kept of each free-text value, tried in turn until the message fits


def subject_of(title: str) -> str:
    """A valid SNS Subject from any title: printable ASCII, one line, under 100 characters, never empty."""
    ascii_text = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    one_line = " ".join("".join(c if " " <= c <= "~" else " " for c in ascii_text).split())
    if len(one_line) > SUBJECT_MAX:
        one_line = one_line[: SUBJECT_MAX - 3].rstrip() + "..."
    return one_line or "Dockhand notification"


def _cut(text: str, keep: int | None) -> str:
    return text if keep is None or len(text) <= keep else text[:keep]


def chat_body(n: Notification, keep: int | None = None) -> dict[str, Any]:
    """The custom-notification schema (version 1.0) of Amazon Q Developer in chat applications.

    `keep` cuts every free-text value to that many characters (0: the fields are left out of the metadata).
    """
    short = None if keep is None else max(keep, 250)  # names and the summary: cut last, and never to nothing
    fields = {k: _cut(v, keep) for k, v in n.fields.items()}
    lines = [n.text] if n.text else []
    lines += [f"*{k}*: {v}" for k, v in fields.items()]
    lines += [f"<{link.url}|{link.label}>" for link in n.links]
    related = [_cut(r, short) for r in (n.cluster, n.service, n.job) if r]
    metadata: dict[str, Any] = {
        "summary": _cut(n.title, short),
        "eventType": n.kind,
        "relatedResources": related,
        "additionalContext": {"severity": n.severity, **(fields if keep != 0 else {})},
    }
    if n.thread_key:
        metadata["threadId"] = n.thread_key[:128]
    return {
        "version": "1.0",
        "source": "custom",
        "content": {
            "textType": "client-markdown",
            "title": f"{EMOJI[n.severity]} {n.title}"[:250],
            "description": "\n".join(lines)[:8000],
            "keywords": [k for k in (n.kind, n.severity, *related) if k],
        },
        "metadata": metadata,
    }


def attributes_of(n: Notification) -> dict[str, str]:
    values = (("kind", n.kind), ("severity", n.severity), ("cluster", n.cluster), ("service", n.service))
    # A lone surrogate (JSON may carry one, escaped) cannot be sent as UTF-8: it becomes "?".
    return {k: v.encode("utf-8", "replace").decode()[:ATTRIBUTE_MAX] for k, v in (*values, ("job", n.job)) if v}


def message_of(n: Notification, room: int) -> str:
    """The chat body as JSON, its free text cut step by step until it takes at most `room` bytes."""
    for keep in _CUTS:
        message = json.dumps(chat_body(n, keep))  # ASCII (escaped), so characters are bytes
        if len(message) <= room:
            break
    return message


class SnsChannel:
    name = "sns"

    def __init__(self, sns_client: SnsClient, topic_arn: str) -> None:
        self._sns = sns_client
        self._topic = topic_arn

    def send(self, n: Notification) -> Delivery:
        attributes = attributes_of(n)
        subject = subject_of(n.title)
        used = len(subject) + sum(len(k) + len("String") + len(v.encode()) for k, v in attributes.items())
        response = self._sns.publish(
            TopicArn=self._topic,
            Subject=subject,
            Message=message_of(n, PUBLISH_MAX - used),
            MessageAttributes={k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()},
        )
        return Delivery(channel=self.name, ok=True, ref=response.get("MessageId"))
