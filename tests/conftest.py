"""Shared fixtures: fake credentials, in-process moto, the stack created from template.yaml, config files."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from dockhand_local.lambda_context import LambdaContext

REGION = "us-east-1"


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test ever reaches a real AWS account or a developer's profile."""
    for var in list(os.environ):
        if var.startswith(("AWS_", "DOCKHAND_")) and var not in ("AWS_LAMBDA_FUNCTION_NAME",):
            monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Dockhand")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "dockhand")


@pytest.fixture(autouse=True)
def fresh_caches(aws_env: None) -> Iterator[None]:
    """Every test starts as a cold Lambda container would: no cached settings, config, clients, notifier or
    task definitions, and no secret or parameter cached by Powertools."""

    def clear() -> None:
        from aws_lambda_powertools.utilities import parameters

        from dockhand import deps

        deps.reset()
        parameters.clear_caches()
        watcher = sys.modules.get("functions.watcher.app")
        if watcher is not None:
            watcher._TASKDEFS.clear()

    clear()
    yield
    clear()


@pytest.fixture
def moto_aws() -> Iterator[None]:
    from moto import mock_aws

    with mock_aws():
        yield


@pytest.fixture
def stack(moto_aws: None) -> Any:
    """Every resource of template.yaml, created in moto."""
    import boto3

    from dockhand_local.stack import create_stack

    return create_stack(boto3.Session(), region=REGION)


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[[Any], Path]:
    """Write a declarations file (dict or YAML text) and return its path."""

    def write(data: Any, name: str = "dockhand.yaml") -> Path:
        path = tmp_path / name
        path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
        return path

    return write


@pytest.fixture
def function_env(stack: Any, monkeypatch: pytest.MonkeyPatch) -> Callable[[str, Path], dict[str, str]]:
    """Give the test process the environment template.yaml gives one function, with this config file."""
    from dockhand import deps

    def apply(function_logical_id: str, config_path: Path) -> dict[str, str]:
        env = stack.env_for(function_logical_id)
        env["DOCKHAND_CONFIG"] = str(config_path)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        deps.reset()
        return env

    return apply


@pytest.fixture
def lambda_context() -> LambdaContext:
    return LambdaContext()
