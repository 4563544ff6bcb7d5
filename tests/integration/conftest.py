"""Fixtures several integration test modules share."""

from __future__ import annotations

from tests.integration.promotion_helpers import walk

__all__ = ["walk"]
