"""Template functions run in this process as Lambda runs them, one at a time.

Each invocation gets the function's environment (os.environ is swapped for the call), its own copy of the
layer's modules and of Powertools (module-level state — registered channel factories, cached clients and
settings, Parameters' providers and cached values, the cold-start flag — belongs to one function, as in
Lambda), and, when a log file
is given, its stdout and log lines go there instead of the terminal.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from typing import Any

from dockhand_local.lambda_context import LambdaContext


def code_path(fn: Any) -> Path:
    """The file that holds a template function's handler (`CodeUri` + `Handler`)."""
    return fn.code_dir / f"{fn.handler.rpartition('.')[0]}.py"


class FunctionHost:
    def __init__(self, log: Path | None = None) -> None:
        self.out: Any = None  # where handlers' stdout (logs, EMF) goes; None: inherit
        if log is not None:
            log.parent.mkdir(parents=True, exist_ok=True)
            self.out = log.open("a", encoding="utf-8")
            self._quiet_logger()
        self._lock = threading.RLock()  # os.environ is process-global: one handler at a time
        self._handlers: dict[str, Callable[..., Any]] = {}
        self._modules: dict[str, dict[str, Any]] = {}  # function -> its own copy of the layer's modules

    def invoke(self, fn: Any, event: dict[str, Any], env: dict[str, str], arn: str) -> Any:
        """Call the function's lambda_handler under `env` and return what it returned; its exceptions propagate."""
        with self._lock:
            saved = dict(os.environ)
            os.environ.clear()
            os.environ.update(env)
            try:
                with self._own_modules(fn.logical_id):
                    handler = self._handler(fn)
                    deps = sys.modules.get("dockhand.deps")
                    if deps is not None:  # settings and clients re-read this function's environment
                        deps.reset()
                    context = LambdaContext(function_name=env["AWS_LAMBDA_FUNCTION_NAME"], invoked_function_arn=arn)
                    with redirect_stdout(self.out or sys.stdout):
                        return handler(event, context)
            finally:
                os.environ.clear()
                os.environ.update(saved)

    def close(self) -> None:
        if self.out:
            out = self.out
            _retarget_streams(lambda stream: stream is out, sys.stdout)
            out.close()
            self.out = None

    @contextmanager
    def _own_modules(self, function: str) -> Iterator[None]:
        """Each Lambda function is its own process: give it its own copy of the layer's modules.

        The layer's own package and Powertools are imported once per function: module-level state (registered
        channel factories, cached clients and settings, Parameters' providers and cached values, the cold-start
        flag) then belongs to one function, as in Lambda, instead of leaking from one handler into another.
        """
        outside = {name: sys.modules.pop(name) for name in list(sys.modules) if _per_function(name)}
        sys.modules.update(self._modules.get(function, {}))
        try:
            yield
        finally:
            self._modules[function] = {name: sys.modules.pop(name) for name in list(sys.modules) if _per_function(name)}
            sys.modules.update(outside)

    def _handler(self, fn: Any) -> Callable[..., Any]:
        if fn.logical_id in self._handlers:
            return self._handlers[fn.logical_id]
        attr = fn.handler.rpartition(".")[2]
        spec = importlib.util.spec_from_file_location(f"dockhand_fn_{fn.logical_id}", code_path(fn))
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.path.insert(0, str(fn.code_dir))
        try:
            with redirect_stdout(self.out or sys.stdout):
                spec.loader.exec_module(module)
        finally:
            sys.path.remove(str(fn.code_dir))
        self._quiet_logger()
        handler = getattr(module, attr)
        self._handlers[fn.logical_id] = handler
        return handler

    def _quiet_logger(self) -> None:
        """Powertools' Logger holds the stream it was created with; send it where handler output goes."""
        if not self.out:
            return
        import dockhand.observability  # noqa: F401 - creates the Logger whose stream is redirected

        _retarget_streams(lambda stream: stream is not self.out and stream in (sys.stdout, sys.__stdout__), self.out)


def _retarget_streams(which: Callable[[Any], bool], stream: Any) -> None:
    """Point every logging StreamHandler whose stream matches `which` at `stream`."""
    import logging

    loggers = [
        logging.getLogger(),
        *[v for v in logging.Logger.manager.loggerDict.values() if isinstance(v, logging.Logger)],
    ]
    for log in loggers:
        for handler in log.handlers:
            if (
                isinstance(handler, logging.StreamHandler)
                and not isinstance(handler, logging.FileHandler)
                and which(handler.stream)
            ):
                handler.setStream(stream)


PER_FUNCTION_PACKAGES = ("dockhand", "aws_lambda_powertools")  # what the layer ships that holds module state


def _per_function(name: str) -> bool:
    return any(name == package or name.startswith(f"{package}.") for package in PER_FUNCTION_PACKAGES)
