"""One Lambda function in a process of its own, as Lambda runs it, with its time and AWS calls measured.

Run as a script (`python -S worker.py FUNCTION_DIR`), so that what it times is the handler's import alone. The
environment is the one template.yaml gives the function, pointed at the bench's AWS endpoint. It answers JSON lines
on the stdout it was started with; whatever the handler prints (logs, metrics) goes to $BENCH_WORKER_LOG instead.
When it ends, it adds the layer's modules it loaded (paths under opt/python) to $BENCH_MODULES_LOG: what the
artifacts figure counts as reached, beside what the handlers' imports reach on paper.

Requests (one JSON object a line on stdin):
  {"op": "invoke", "event": {...}}   → {"ms", "aws_ms", "calls": [[service, action, start_ms, end_ms]], "items"
                                       (what each call carried: a DynamoDB batch's or transaction's items, else 1),
                                       "result"}
  {"op": "clock", "start": ISO}      → the process clock (time.time, datetime.now) jumps to ISO and stands still
  {"op": "advance", "seconds": S}    → the process clock moves S seconds ahead
  {"op": "loaded"}                   → {"modules": [...], "clients": [...]}: the layer's modules other than dockhand's,
                                       in the order they were first imported, and the services of the clients made
Every answer carries "rss_mb", the process's peak resident memory so far.
"""

import os
import sys
import time
from importlib.machinery import PathFinder

FUNCTION_DIR = os.path.abspath(sys.argv[1])
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    sys.path.pop(0)  # the bench's own folder is no part of a Lambda function
CALLS: list[tuple[str, str, float, float]] = []  # (service, action, start, end) of every AWS call
ITEMS: list[int] = []  # the items each call carried (a DynamoDB batch or transaction: its items; any other: 1)
CALLS_CPU: list[float] = []  # the CPU seconds this process spent inside each AWS call (building, signing, parsing)
CLIENTS: list[str] = []  # the service of every botocore client made, in order
IMPORTERS: dict[str, str] = {}  # top-level package → the line of ours that first imported it


# ------------------------------------------------------------------------------------------------ AWS calls
def _count_items(params: dict, model: object, context: dict, **_: object) -> None:
    name = model.name  # type: ignore[attr-defined]
    requested = params.get("RequestItems") or {}
    if name == "BatchGetItem":
        context["bench_items"] = sum(len(table.get("Keys", [])) for table in requested.values())
    elif name == "BatchWriteItem":
        context["bench_items"] = sum(len(writes) for writes in requested.values())
    elif name in ("TransactGetItems", "TransactWriteItems"):
        context["bench_items"] = len(params.get("TransactItems", []))


def _before_call(context: dict, **_: object) -> None:
    context["bench_started"] = time.perf_counter()
    context["bench_cpu"] = time.process_time()


def _after_call(model: object, context: dict, **_: object) -> None:
    started = context.pop("bench_started", None)
    cpu = context.pop("bench_cpu", None)
    if started is not None and cpu is not None:
        CALLS_CPU.append(time.process_time() - cpu)
        service = model.service_model.service_name  # type: ignore[attr-defined]
        CALLS.append((service, model.name, started, time.perf_counter()))  # type: ignore[attr-defined]
        ITEMS.append(context.pop("bench_items", 1))


def _time_every_client(session_module: object) -> None:
    """Every botocore client made from now on reports its calls (event hooks, so nothing else changes)."""
    cls = session_module.Session  # type: ignore[attr-defined]
    original = cls.create_client

    def create_client(self: object, *args: object, **kwargs: object) -> object:
        client = original(self, *args, **kwargs)
        CLIENTS.append(str(args[0] if args else kwargs.get("service_name")))
        hooks = (("before-parameter-build", _count_items), ("before-call", _before_call), ("after-call", _after_call))
        for event, hook in hooks:
            client.meta.events.register(event, hook)
        client.meta.events.register("after-call-error", _after_call)
        return client

    cls.create_client = create_client


class _WhenImported:
    """Patches botocore.session the moment the handler imports it: the bench imports nothing on its behalf."""

    def find_spec(self, name: str, path: object = None, target: object = None) -> object:
        if name != "botocore.session":
            return None
        spec = PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            run = spec.loader.exec_module

            def exec_module(module: object) -> None:
                run(module)
                _time_every_client(module)

            spec.loader.exec_module = exec_module
        return spec


sys.meta_path.insert(0, _WhenImported())


# ------------------------------------------------------------------------------------------------ imports
def _trace_imports(event: str, args: tuple) -> None:
    """Who first imported each top-level package: the innermost frame of the function's or the layer's code."""
    if event != "import":
        return
    top = str(args[0]).split(".")[0]
    if top in IMPORTERS:
        return
    frame = sys._getframe(1)
    while frame is not None:
        path = frame.f_code.co_filename
        if path.startswith(_OURS):
            IMPORTERS[top] = f"{os.path.relpath(path, _SITE)}:{frame.f_lineno}"
            return
        frame = frame.f_back
    IMPORTERS[top] = "-"


if os.environ.get("BENCH_TRACE_IMPORTS"):
    _SITE = os.path.dirname(os.path.dirname(FUNCTION_DIR))  # holds task/<function> and opt/python
    _OURS = (FUNCTION_DIR, os.path.join(_SITE, "opt", "python", "dockhand"))
    sys.addaudithook(_trace_imports)

# ------------------------------------------------------------------------------------------------ the handler
sys.path.insert(0, FUNCTION_DIR)
_T0, _CPU0 = time.perf_counter(), time.process_time()
import app  # noqa: E402  (found in the function's own folder, as Lambda finds it)

IMPORT_MS = (time.perf_counter() - _T0) * 1000
IMPORT_CPU_MS = (time.process_time() - _CPU0) * 1000
print("--- bench: handler imported", file=sys.stderr, flush=True)  # splits the -X importtime report

import json  # noqa: E402
import uuid  # noqa: E402

_protocol = os.fdopen(os.dup(1), "w", buffering=1)
os.dup2(os.open(os.environ.get("BENCH_WORKER_LOG", os.devnull), os.O_WRONLY | os.O_CREAT | os.O_APPEND), 1)


class _Context:
    function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "dockhand-bench")
    memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"))
    invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
    log_group_name = f"/aws/lambda/{function_name}"
    log_stream_name = "bench"

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def _union_ms(intervals: list[tuple[float, float]]) -> float:
    total, end = 0.0, float("-inf")
    for start, stop in sorted(intervals):
        if stop > end:
            total += stop - max(start, end)
            end = stop
    return total * 1000


def _invoke(event: dict) -> dict:
    before, before_cpu = len(CALLS), len(CALLS_CPU)
    started, cpu = time.perf_counter(), time.process_time()
    result = app.lambda_handler(event, _Context())
    ms = (time.perf_counter() - started) * 1000
    cpu_ms = (time.process_time() - cpu) * 1000
    calls = CALLS[before:]
    return {
        "ms": ms,
        "aws_ms": _union_ms([(s, e) for _, _, s, e in calls]),
        "cpu_ms": cpu_ms,
        "aws_cpu_ms": sum(CALLS_CPU[before_cpu:]) * 1000,
        "calls": [[svc, action, (s - started) * 1000, (e - started) * 1000] for svc, action, s, e in calls],
        "items": ITEMS[before:],
        "result": result,
    }


def peak_rss_mb() -> float:
    """The process's peak resident memory (VmHWM; ru_maxrss would carry the parent's peak over fork and exec)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _answer(payload: dict) -> None:
    payload["rss_mb"] = peak_rss_mb()
    _protocol.write(json.dumps(payload, default=str) + "\n")


def main() -> None:
    clock = None
    _answer({"import_ms": IMPORT_MS, "import_cpu_ms": IMPORT_CPU_MS})
    for line in sys.stdin:
        request = json.loads(line)
        op = request["op"]
        if op == "invoke":
            _answer(_invoke(request["event"]))
        elif op == "clock":
            # the bench's clock (time-machine) is no part of the function: reached only now, after its imports
            sys.path.extend(os.environ.get("BENCH_LOCAL_PATHS", "").split(os.pathsep))
            from datetime import datetime

            import time_machine

            # stands still between steps, as the tests' injected clock does: only `advance` moves it
            clock = time_machine.travel(datetime.fromisoformat(request["start"]), tick=False).start()
            _answer({"now": datetime.now().astimezone().isoformat()})
        elif op == "loaded":
            _answer({"modules": _layer_modules(), "clients": CLIENTS})
        elif op == "advance" and clock is not None:
            from datetime import datetime

            clock.shift(float(request["seconds"]))
            _answer({"now": datetime.now().astimezone().isoformat()})
        else:
            _answer({"error": f"cannot {op!r} here"})
    if os.environ.get("BENCH_TRACE_IMPORTS"):
        print("--- bench: importers " + json.dumps(IMPORTERS), file=sys.stderr, flush=True)
    _log_loaded_modules()


_LAYER = os.path.join(os.path.dirname(os.path.dirname(FUNCTION_DIR)), "opt", "python") + os.sep


def _layer_modules() -> list[str]:
    """The modules loaded from the layer that are not Dockhand's (its libraries), as sys.modules orders them: by
    when each began to import, so importing them in this order runs them in the order the function did."""
    ours = os.path.join(_LAYER, "dockhand") + os.sep
    return [
        name
        for name, module in list(sys.modules.items())
        if (path := getattr(module, "__file__", None) or "").startswith(_LAYER) and not path.startswith(ours)
    ]


def _log_loaded_modules() -> None:
    target = os.environ.get("BENCH_MODULES_LOG")
    if not target:
        return
    files = {getattr(m, "__file__", None) or "" for m in list(sys.modules.values())}
    loaded = sorted(os.path.relpath(f, _LAYER) for f in files if f.startswith(_LAYER))
    with open(target, "a") as log:
        log.write("".join(f"{path}\n" for path in loaded))


if __name__ == "__main__":
    main()
