from dockhand.notify.model import Delivery, Link, Notification
from dockhand.notify.notifier import Channel, Notifier, NotifyResult

__all__ = ["Channel", "Delivery", "Link", "Notification", "Notifier", "NotifyResult"]
