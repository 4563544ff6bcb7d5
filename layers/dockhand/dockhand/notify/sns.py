"""SNS channel: subject + filterable attributes + a body Amazon Q Developer in chat renders (custom notification)."""

from __future__ import annotations

import json
from typing import Any

from dockhand.aws.protocols import SnsClient
from dockhand.notify.model import EMOJI, Delivery, Notification


def chat_body(n: Notification) -> dict[str, Any]:
    """The custom-notification schema (version 1.0) of Amazon Q Developer in chat applications."""
    lines = [n.text] if n.text else []
    lines += [f"*{k}*: {v}" for k, v in n.fields.items()]
    lines += [f"<{link.url}|{link.label}>" for link in n.links]
    metadata: dict[str, Any] = {
        "summary": n.title,
        "eventType": n.kind,
        "relatedResources": [r for r in (n.cluster, n.service, n.job) if r],
        "additionalContext": {"severity": n.severity, **n.fields},
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
            "keywords": [k for k in (n.kind, n.severity, n.cluster, n.service, n.job) if k],
        },
        "metadata": metadata,
    }


class SnsChannel:
    name = "sns"

    def __init__(self, sns_client: SnsClient, topic_arn: str) -> None:
        self._sns = sns_client
        self._topic = topic_arn

    def send(self, n: Notification) -> Delivery:
        attributes = {
            "kind": n.kind,
            "severity": n.severity,
            **{k: v for k, v in (("cluster", n.cluster), ("service", n.service), ("job", n.job)) if v},
        }
        response = self._sns.publish(
            TopicArn=self._topic,
            Subject=n.title.replace("\n", " ")[:100],
            Message=json.dumps(chat_body(n)),
            MessageAttributes={k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()},
        )
        return Delivery(channel=self.name, ok=True, ref=response.get("MessageId"))
