"""The promotion wing's entry point for its own messages on the watcher's queue."""

from __future__ import annotations

from dockhand.events import PromoteAction
from dockhand.promote.approvals import decided, expire
from dockhand.promote.context import Promoter
from dockhand.promote.walk import end_bake, promote_now


def handle_promote(action: PromoteAction, p: Promoter) -> str:
    if action.action == "end_bake":
        return end_bake(action, p)
    if action.action == "promote_now":
        return promote_now(action, p)
    if action.action == "decided":
        return decided(action, p)
    return expire(action, p)
