"""Which channels delivered a notification: one claim per notification key (scope `notify`, `state/claims.py`).

The claim's steps are the delivery's: `sending:<channel>` (when a delivery began to send on that channel, epoch
seconds) and `<channel>` (what the channel answered: a message reference). The claim is finished, its result the
references, once every routed channel delivered. It is owned by the notification rather than by one delivery:
whichever message carries it — a redelivery, a redrive, the deployer's retry message — resumes it; two deliveries
at once are kept apart per channel: the first marks its channels in the write that creates the claim, a later one
by `take` (only one of them marks a channel as being sent).
"""

from __future__ import annotations

import time

from dockhand.state.claims import Claim, Claims
from dockhand.state.table import Table

SCOPE = "notify"
SENDING = "sending:"  # the step that marks a channel as being sent: `sending:<channel>`
OWNER = "notification"  # every delivery of a notification holds its claim alike


class Deliveries:
    def __init__(self, table: Table) -> None:
        self._claims = Claims(table, SCOPE, owner=OWNER)

    def open(self, key: str, sending: list[str] | None = None) -> Claim:
        """The delivery's claim; a new one is opened with `sending` marked as being sent (now)."""
        marks = {SENDING + channel: int(time.time()) for channel in sending or ()}
        return self._claims.open(key, marks)
