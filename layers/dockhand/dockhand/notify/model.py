"""What every wing hands to the notifier: one Notification, channel-neutral."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from dockhand.config import Kind, Severity

# One mark per severity, as the chat channels (Slack, SNS → Amazon Q in chat) show it.
EMOJI: dict[Severity, str] = {"info": ":information_source:", "warning": ":warning:", "error": ":rotating_light:"}


class Link(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)
    label: str
    url: str


class Button(BaseModel):
    """A button a person answers with (Slack bot mode; the interaction comes back to the approver's function URL)."""

    model_config = ConfigDict(frozen=True, defer_build=True)
    label: str
    action_id: str
    value: str
    style: Literal["primary", "danger"] | None = None

    def block(self) -> dict[str, Any]:
        """The Block Kit button element (Slack's limits: label 75 characters, value 2,000)."""
        out = {"type": "button", "text": {"type": "plain_text", "text": self.label[:75]}, "action_id": self.action_id}
        return out | {"value": self.value[:2000]} | ({"style": self.style} if self.style else {})


class Notification(BaseModel):
    """A message about one thing that happened.

    `thread_key` groups follow-ups (a crash loop's summary goes in the thread of its first alert);
    `update_key` names a message that a later notification replaces (a deploy's outcome updates its start).
    `key` names the notification itself, after what caused it (set by `notify.delivery`): a channel that can be
    asked whether it already delivered something (Slack in bot mode) marks the message with it.
    """

    model_config = ConfigDict(frozen=True, defer_build=True)

    kind: Kind
    severity: Severity = "info"
    title: str
    text: str = ""
    fields: dict[str, str] = Field(default_factory=dict)
    links: list[Link] = Field(default_factory=list)
    cluster: str | None = None
    service: str | None = None
    job: str | None = None
    thread_key: str | None = None
    update_key: str | None = None
    role: Literal["new", "follow_up", "update"] = "new"
    key: str | None = None
    buttons: list[Button] = Field(default_factory=list)


class Delivery(BaseModel):
    """What one channel did with a notification (its message reference, for later threads and updates)."""

    model_config = ConfigDict(defer_build=True)
    channel: str
    ok: bool
    ref: str | None = None
    error: str | None = None
    assumed: bool = False  # not seen but taken as delivered: the channel cannot be asked (SNS, a webhook)
