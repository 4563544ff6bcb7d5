"""Structure-aware mutations of sample messages, and an oracle written from the contract (not from the code).

A case is a sample message with one to three mutations, each at a path of the message (a key or a list index):
drop it, null, empty, a wrong type, unicode or control characters, long and huge strings, deep nesting, giant or
non-finite numbers, a lone surrogate, a timestamp without its time zone, another ARN partition, extra fields,
a list where an object goes, random text. Some cases break the whole body instead (not JSON, an array, nothing).

`must_refuse` says whether a case breaks the contract the README states — limits that hold everywhere, and per
message the fields listed in RULES with the mutations that break each. Cases it cannot judge (random text in a
free-text field, a dropped optional field) may go either way; they still must not crash anything.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from fnmatch import fnmatchcase
from typing import Any

from hypothesis import strategies as st

Path = tuple[str | int, ...]

# Break the contract wherever they land: depth, size, numbers, text that is not Unicode.
UNIVERSAL = frozenset({"deep", "giant_number", "non_finite", "surrogate", "huge"})
FIELD_OPS = (
    "drop",
    "null",
    "empty",
    "wrong_type",
    "unicode",
    "control",
    "long",
    "naive_time",
    "partition",
    "negative",
    "extra_field",
    "list_for_object",
    "replace_text",
)
BODY_OPS = ("not_json", "array", "scalar", "nothing")
KEEPING = frozenset({"list_for_object", "extra_field"})  # what these do to a value keeps the value inside
OPS = (*FIELD_OPS, *sorted(UNIVERSAL))

REQUIRED_TEXT = {"drop", "null", "empty", "wrong_type", "unicode", "control", "long"}
ARN = {*REQUIRED_TEXT, "partition"}
OPTIONAL_ARN = {"wrong_type", "unicode", "control", "long", "partition"}
TIME = {"drop", "null", "empty", "wrong_type", "unicode", "control", "long", "naive_time"}
OPTIONAL_TIME = {"empty", "wrong_type", "unicode", "control", "long", "naive_time"}
OBJECT = {"drop", "null", "empty", "wrong_type", "list_for_object"}
INT = {"null", "wrong_type"}
LITERAL = "literal"  # any change of the value (a dropped literal with a default excepted: see LITERAL_WITH_DEFAULT)

ENVELOPE = {
    "id": REQUIRED_TEXT,
    "detail-type": LITERAL,
    "source": LITERAL,
    "time": TIME,
    "account": {"null", "wrong_type", "unicode", "control", "long"},
    "region": {"null", "wrong_type", "unicode", "control", "long"},
    "version": {"null", "wrong_type", "long"},
    "detail": OBJECT,
    "resources": {"null", "wrong_type"},
}
SERVICE_RESOURCES = {"resources": {"drop", "null", "empty", "wrong_type"}, "resources.0": ARN}

RULES: dict[str, dict[str, Any]] = {
    "ecr": {
        **ENVELOPE,
        "account": REQUIRED_TEXT,
        "region": REQUIRED_TEXT,
        "detail.result": {"drop", "null", "wrong_type", "long"},
        "detail.repository-name": REQUIRED_TEXT,
        "detail.image-digest": REQUIRED_TEXT,
        "detail.action-type": {"drop", "null", "wrong_type", "long"},
        "detail.image-tag": {"wrong_type", "unicode", "control", "long"},
        "detail.*-media-type": {"wrong_type", "long"},
    },
    "task": {
        **ENVELOPE,
        "detail.taskArn": ARN,
        "detail.clusterArn": ARN,
        "detail.taskDefinitionArn": {"null", *OPTIONAL_ARN},
        "detail.lastStatus": {"null", "wrong_type", "long"},
        "detail.group": {"empty", "wrong_type", "unicode", "control"},
        "detail.startedBy": {"wrong_type", "unicode", "control", "long"},
        "detail.version": {*INT, "negative"},
        "detail.createdAt": OPTIONAL_TIME,
        "detail.startedAt": OPTIONAL_TIME,
        "detail.stoppingAt": OPTIONAL_TIME,
        "detail.stoppedAt": OPTIONAL_TIME,
        "detail.containers": {"null", "wrong_type"},
        "detail.containers.*": {"null", "wrong_type", "list_for_object"},
        "detail.containers.*.exitCode": {"wrong_type"},
        "detail.containers.*.imageDigest": {"empty", "wrong_type", "unicode", "control", "long"},
        "detail.containers.*.containerArn": {"empty", *OPTIONAL_ARN},
        "detail.containers.*.name": {"null", "wrong_type", "long"},
        "detail.overrides": {"null", "wrong_type", "list_for_object"},
        "detail.tags": {"null", "wrong_type"},
        "detail.tags.*": {"null", "wrong_type", "list_for_object"},
        "detail.tags.*.*": {"null", "wrong_type", "long"},
    },
    "deployment": {
        **ENVELOPE,
        **SERVICE_RESOURCES,
        "detail.eventType": {"drop", "null", "wrong_type", "long"},
        "detail.eventName": {"drop", "null", "wrong_type", "long"},
        "detail.deploymentId": REQUIRED_TEXT,
        "detail.updatedAt": OPTIONAL_TIME,
    },
    "service": {
        **ENVELOPE,
        **SERVICE_RESOURCES,
        "detail.eventType": {"drop", "null", "wrong_type", "long"},
        "detail.eventName": {"drop", "null", "wrong_type", "long"},
        "detail.clusterArn": {"null", *OPTIONAL_ARN},
        "detail.createdAt": OPTIONAL_TIME,
        "detail.capacityProviderArns": {"null", "wrong_type"},
        "detail.capacityProviderArns.*": ARN - {"drop"},
    },
    "schedule": {
        "dockhand": LITERAL,
        "action": LITERAL,
        "job": REQUIRED_TEXT,
        "scheduled_time": OPTIONAL_TIME,
        "run_id": REQUIRED_TEXT - {"drop", "null"},
        "attempt": {*INT, "negative"},
        "execution_id": REQUIRED_TEXT - {"drop", "null"},
    },
    "watch-close": {
        "dockhand": LITERAL,
        "action": LITERAL,
        "cluster": REQUIRED_TEXT,
        "group": REQUIRED_TEXT - {"long"},
        "cause": REQUIRED_TEXT,
        "round": {*INT, "negative"},
        "chain": {"null", "wrong_type", "unicode", "control", "long"},
        "opened_at": {*INT, "negative", "drop", "empty"},
        "closes_at": {*INT, "negative"},
        "not_before": {*INT, "negative"},
        "attempt": {*INT, "negative"},
    },
    "watch-restart": {
        "dockhand": LITERAL,
        "action": LITERAL,
        "chain": REQUIRED_TEXT,
        "attempt": {*INT, "negative", "drop", "empty"},
    },
    "notify": {
        "dockhand": LITERAL,
        "key": {"drop", "null", "empty", "wrong_type", "control"},
        "notification": OBJECT,
        "notification.kind": LITERAL,
        "notification.severity": LITERAL,
        "notification.role": LITERAL,
        "notification.title": {"drop", "null", "wrong_type"},
        "notification.fields": {"null", "wrong_type"},
        "notification.fields.*": {"null", "wrong_type"},
        "notification.links": {"null", "wrong_type"},
    },
    "cloudformation": {
        "RequestType": LITERAL,
        "ResponseURL": REQUIRED_TEXT,
        "StackId": ARN,
        "RequestId": {"drop", "null", "empty", "wrong_type", "unicode", "control"},
        "LogicalResourceId": REQUIRED_TEXT,
        "ResourceProperties": OBJECT,
        "ResourceProperties.ScheduleGroup": REQUIRED_TEXT,
        "ResourceProperties.TargetArn": ARN,
        "ResourceProperties.RoleArn": ARN,
        "ResourceProperties.DeadLetterArn": OPTIONAL_ARN,
    },
}
LITERAL_WITH_DEFAULT = {("schedule", "action"), ("notify", "notification.severity"), ("notify", "notification.role")}


def family_of(message: dict[str, Any]) -> str:
    kinds = {
        "ECR Image Action": "ecr",
        "ECS Task State Change": "task",
        "ECS Deployment State Change": "deployment",
        "ECS Service Action": "service",
    }
    if "detail-type" in message:
        return kinds[message["detail-type"]]
    if "RequestType" in message:
        return "cloudformation"
    if message["dockhand"] == "watch":
        return "watch-close" if message["action"] == "close_window" else "watch-restart"
    return {"job": "schedule", "notify": "notify"}[message["dockhand"]]


# ------------------------------------------------------------------------------------------- mutations


@dataclass(frozen=True)
class Mutation:
    path: Path
    op: str
    arg: Any = None

    def __str__(self) -> str:
        return f"{'.'.join(map(str, self.path))}:{self.op}"


@dataclass(frozen=True)
class Case:
    sample: str
    family: str
    original: dict[str, Any]
    body: str
    applied: tuple[Mutation, ...]
    body_op: str | None = None

    def __str__(self) -> str:
        what = self.body_op or ", ".join(map(str, self.applied)) or "unchanged"
        return f"{self.sample} [{what}]"


def paths_of(doc: Any) -> list[Path]:
    out: list[Path] = []
    stack: list[tuple[Any, Path]] = [(doc, ())]
    while stack:
        node, path = stack.pop()
        items: Iterable[tuple[str | int, Any]] = ()
        if isinstance(node, dict):
            items = node.items()
        elif isinstance(node, list):
            items = enumerate(node)
        for key, value in items:
            out.append((*path, key))
            stack.append((value, (*path, key)))
    return sorted(out, key=lambda p: tuple(map(str, p)))


_PARTITIONS = ("aws", "aws-cn", "aws-us-gov", "aws-iso-b", "azure", "Aws")
_RAW = "\x1eraw{}\x1e"  # a placeholder string replaced by raw JSON text after dumping


def _naive(value: str) -> str | None:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=None).isoformat() if parsed.tzinfo else None


def _other_partition(value: str, pick: int) -> str | None:
    """The ARN in a partition its region is not in (a global ARN, like IAM's: in a partition that does not exist)."""
    match = re.match(r"^arn:([^:]*):([^:]*):([^:]*):(.*)$", value)
    if match is None:
        return None
    region = match.group(3)
    right = "aws-cn" if region.startswith("cn-") else "aws-us-gov" if region.startswith("us-gov-") else "aws"
    choices = [p for p in _PARTITIONS if p != right] if region else ["azure", "Aws"]
    return f"arn:{choices[pick % len(choices)]}:{value.split(':', 2)[2]}"


def mutate(value: Any, m: Mutation, raw: list[str]) -> tuple[bool, Any]:
    """(applied, new value). `raw` collects JSON text that cannot be a Python value (10,000 levels, NaN)."""
    op, arg = m.op, m.arg
    if op == "null":
        return True, None
    if op == "empty":
        return True, {"str": "", "list": [], "dict": {}}.get(type(value).__name__, "")
    if op == "wrong_type":  # the value is replaced (list_for_object is the mutation that keeps it)
        if isinstance(value, dict):
            return True, [[1], "text", 7][arg % 3]
        if isinstance(value, list):
            return True, [{"0": 1}, "text", 7][arg % 3]
        return True, [[], {}, [1]][arg % 3]
    if op == "list_for_object":
        return (True, [value]) if isinstance(value, dict) else (False, value)
    if op in ("unicode", "control") and isinstance(value, str):
        at = arg[0] % (len(value) + 1)
        return True, value[:at] + arg[1] + value[at:]
    if op == "long" and isinstance(value, str):
        return True, "a" * 300
    if op == "huge":
        return True, "x" * arg
    if op == "replace_text":
        return True, arg
    if op == "naive_time" and isinstance(value, str):
        naive = _naive(value)
        return (naive is not None), (naive or value)
    if op == "partition" and isinstance(value, str):
        other = _other_partition(value, arg)
        return (other is not None), (other or value)
    if op == "negative" and isinstance(value, int) and not isinstance(value, bool):
        return True, -1 - abs(value)
    if op == "extra_field" and isinstance(value, dict):
        return True, {**value, **arg}
    if op == "giant_number":
        raw.append(arg)
        return True, _RAW.format(len(raw) - 1)
    if op == "non_finite":
        raw.append(["NaN", "Infinity", "-Infinity", "1e400"][arg % 4])
        return True, _RAW.format(len(raw) - 1)
    if op == "deep":
        depth, kind = arg
        raw.append(("[" * depth + "]" * depth) if kind == "list" else ('{"a":' * depth + "1" + "}" * depth))
        return True, _RAW.format(len(raw) - 1)
    if op == "surrogate":
        return True, "\ud800" + (value if isinstance(value, str) else "")
    return False, value


def apply(doc: dict[str, Any], mutations: list[Mutation], ensure_ascii: bool) -> tuple[str, tuple[Mutation, ...]]:
    out = copy.deepcopy(doc)
    raw: list[str] = []
    applied = []
    for m in mutations:
        parent: Any = out
        for key in m.path[:-1]:
            if not isinstance(parent, dict | list) or not _has(parent, key):
                parent = None
                break
            parent = parent[key]
        last = m.path[-1]
        if parent is None or not isinstance(parent, dict | list) or not _has(parent, last):
            continue
        if m.op == "drop":
            del parent[last]
            applied.append(m)
            continue
        done, value = mutate(parent[last], m, raw)
        if done:
            parent[last] = value
            applied.append(m)
    body = json.dumps(out, ensure_ascii=ensure_ascii)
    for i, text in enumerate(raw):
        body = body.replace(json.dumps(_RAW.format(i), ensure_ascii=ensure_ascii), text)
    return body, tuple(applied)


def _has(node: dict[str, Any] | list[Any], key: str | int) -> bool:
    if isinstance(node, dict):
        return key in node
    return isinstance(key, int) and 0 <= key < len(node)


# ---------------------------------------------------------------------------------------------- oracle


def _rule(family: str, path: Path) -> Any:
    dotted = ".".join(str(p) for p in path)
    for pattern, ops in RULES[family].items():
        if fnmatchcase(dotted, pattern) and dotted.count(".") == pattern.count("."):
            return pattern, ops
    return None, None


def _value_at(doc: Any, path: Path) -> tuple[bool, Any]:
    node = doc
    for key in path:
        if not isinstance(node, dict | list) or not _has(node, key):
            return False, None
        node = node[key]
    return True, node


def must_refuse(case: Case) -> bool:
    """True when the case breaks the contract: a universal limit anywhere, or a listed field broken its listed way."""
    if case.body_op is not None:
        return True
    survivors = [m for i, m in enumerate(case.applied) if not _replaced(m, case.applied[i + 1 :])]
    mutated = json.loads(case.body) if not any(m.op in UNIVERSAL for m in survivors) else None
    for m in survivors:
        if m.op in UNIVERSAL:
            return True
        pattern, ops = _rule(case.family, m.path)
        if ops is None:
            continue
        if ops == LITERAL:
            present, value = _value_at(mutated, m.path)
            if not present and (case.family, pattern) in LITERAL_WITH_DEFAULT:
                continue
            if not present or value != _value_at(case.original, m.path)[1]:
                return True
        elif m.op == "wrong_type" and m.op in ops:
            present, value = _value_at(mutated, m.path)
            if present and _other_type(_value_at(case.original, m.path)[1], value):
                return True
        elif m.op in ops:
            return True
    return False


def _replaced(m: Mutation, later: Iterable[Mutation]) -> bool:
    """A later mutation of the same value or of one around it replaced it (wrapping or adding fields keeps it)."""
    return any(o.path == m.path[: len(o.path)] and o.op not in KEEPING for o in later)


def _other_type(original: Any, now: Any) -> bool:
    """A value no coercion turns back into the original's type (a second mutation can undo the first's)."""
    if isinstance(original, dict):
        return not isinstance(now, dict)
    if isinstance(original, list):
        return not isinstance(now, list)
    return isinstance(now, dict | list)


# ------------------------------------------------------------------------------------------ strategies

_non_ascii = st.characters(min_codepoint=0x80, max_codepoint=0xFFFD, exclude_categories=("Cs",))
_control = st.sampled_from(["\n", "\t", "\r", "\x00", "\x1b", "\x7f"])
_extra_key = st.text(st.characters(codec="ascii", categories=("L", "N")), min_size=1, max_size=12).map(
    lambda k: f"x_{k}"  # never the name of a field the message has
)
_extra_value = st.one_of(st.none(), st.integers(-1000, 1000), st.text(max_size=20), st.lists(st.integers(), max_size=3))


def _arg(op: str) -> st.SearchStrategy[Any]:
    return {
        "wrong_type": st.integers(0, 2),
        "unicode": st.tuples(st.integers(0, 10_000), st.text(_non_ascii, min_size=1, max_size=4)),
        "control": st.tuples(st.integers(0, 10_000), _control),
        "huge": st.sampled_from([8_193, 20_000, 300_000]),
        "replace_text": st.text(max_size=40),
        "partition": st.integers(0, 10),
        "extra_field": st.dictionaries(_extra_key, _extra_value, min_size=1, max_size=3),
        "giant_number": st.sampled_from(
            ["1" + "0" * 38, "-" + "9" * 45, "1" * 5000, "12345678901234567890123456789012345678901"]
        ),
        "non_finite": st.integers(0, 3),
        "deep": st.tuples(st.sampled_from([25, 200, 10_000]), st.sampled_from(["list", "dict"])),
    }.get(op, st.none())


def cases(samples: dict[str, dict[str, Any]]) -> st.SearchStrategy[Case]:
    """A sample, then either a broken body or one to three mutations at paths of that sample."""

    @st.composite
    def build(draw: Callable[..., Any]) -> Case:
        name = draw(st.sampled_from(sorted(samples)))
        original = samples[name]
        family = family_of(original)
        if draw(st.integers(0, 19)) == 0:  # one case in twenty breaks the body itself
            body_op = draw(st.sampled_from(BODY_OPS))
            text = json.dumps(original)
            body = {
                "not_json": text[: draw(st.integers(0, max(0, len(text) - 1)))],
                "array": f"[{text}]",
                "scalar": draw(st.sampled_from(["42", '"text"', "null", "true"])),
                "nothing": "",
            }[body_op]
            return Case(name, family, original, body, (), body_op)
        paths = paths_of(original)
        mutations = []
        for _ in range(draw(st.integers(0, 3))):
            op = draw(st.sampled_from(OPS))
            path = draw(st.sampled_from(paths))
            mutations.append(Mutation(path, op, draw(_arg(op))))
        body, applied = apply(original, mutations, ensure_ascii=draw(st.booleans()))
        return Case(name, family, original, body, applied)

    return build()
