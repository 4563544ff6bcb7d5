"""Fault runs build a fresh world (and fresh boto3 sessions) hundreds of times: share botocore's parsed service
models between sessions, as one long-lived process would, so each run costs the calls and not the JSON parsing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(autouse=True, scope="session")
def shared_botocore_models() -> Iterator[None]:
    from botocore import loaders

    shared: dict[Any, Any] = {}
    original = loaders.Loader.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self._cache = shared  # the per-instance cache `instance_cache` reads, shared by every loader

    loaders.Loader.__init__ = init  # type: ignore[method-assign]
    yield
    loaders.Loader.__init__ = original  # type: ignore[method-assign]
