"""Dockhand: event-driven automation for Amazon ECS (push-to-deploy, watch, batch)."""

__version__ = "0.1.0"
