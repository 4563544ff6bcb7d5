"""Each function's policy as deployed, and a small IAM evaluator for it.

template.yaml goes through the SAM translator (what `sam deploy` runs): the SAM policy templates
(DynamoDBCrudPolicy, SQSSendMessagePolicy …) come out as the statements CloudFormation gets, in the role SAM
makes per function (`<Function>Role`). Their values (!Ref, !GetAtt, !Sub) are resolved against the moto stack the
flows run in, so the ARNs are the ones the recorded calls name.

The evaluator does what IAM does for one identity policy set with Allow statements: Action/NotAction and
Resource/NotResource with `*` and `?` wildcards (actions case-insensitive), and the condition operators these
policies use (String*, Arn*, Bool, with IfExists). An operator it does not know fails the audit rather than
guessing. A statement's `Condition` key missing from the request does not hold (as in IAM).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

# Values the audit deploys with: the optional grants exist, so the flows that need them are checked against them.
AUDIT_PARAMETERS = {
    "SlackSecretArns": "arn:aws:secretsmanager:us-east-1:123456789012:secret:team/slack-??????",
    "SlackParameterArns": "arn:aws:ssm:us-east-1:123456789012:parameter/team/slack",
    "WorkloadRoleArns": ",".join(f"arn:aws:iam::{a}:role/dockhand-workload" for a in ("111111111111", "222222222222")),
}

# AWS managed policies SAM attaches. They serve the Lambda service (logs, the SQS poller, X-Ray), not the code;
# the poller's calls are checked against them (see recorder.poller_requests). Documents as AWS publishes them.
MANAGED = {
    "AWSLambdaBasicExecutionRole": [
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": "*",
        }
    ],
    "AWSLambdaSQSQueueExecutionRole": [
        {
            "Effect": "Allow",
            "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
            "Resource": "*",
        },
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": "*",
        },
    ],
    "AWSXrayWriteOnlyAccess": [
        {
            "Effect": "Allow",
            "Action": [
                "xray:PutTraceSegments",
                "xray:PutTelemetryRecords",
                "xray:GetSamplingRules",
                "xray:GetSamplingTargets",
                "xray:GetSamplingStatisticSummaries",
            ],
            "Resource": "*",
        }
    ],
}


@dataclass(frozen=True)
class Request:
    """One authorization IAM makes: an action on a resource, with the condition keys the request carries."""

    action: str
    resource: str
    context: tuple[tuple[str, str], ...] = ()
    via: str = ""  # the API call that makes this authorization (a KMS key use, a PassRole, a tag on create)

    def __str__(self) -> str:
        ctx = "".join(f" [{k}={v}]" for k, v in self.context)
        return f"{self.action} on {self.resource}{ctx}" + (f" (for {self.via})" if self.via else "")


@dataclass
class Statement:
    label: str  # the Sid, or the SAM policy template and what it names, or the managed policy's name
    body: dict[str, Any]
    managed: bool = False
    reason_unused: str | None = None

    @property
    def actions(self) -> list[str]:
        return _list(self.body.get("Action"))


@dataclass
class FunctionPolicy:
    function: str
    statements: list[Statement] = field(default_factory=list)

    def allowing(self, request: Request) -> list[Statement]:
        """The statements that allow `request` (empty: IAM denies it). No statement here denies."""
        for s in self.statements:
            if s.body.get("Effect") == "Deny" and _matches(s.body, request):
                return []
        return [s for s in self.statements if s.body.get("Effect") == "Allow" and _matches(s.body, request)]


# ------------------------------------------------------------------------------------------ translation


@cache
def translated_template() -> dict[str, Any]:
    """template.yaml as CloudFormation gets it after the SAM transform (code locations stand in for S3 URIs)."""
    import os

    from samtranslator.translator.transform import transform
    from samtranslator.yaml_helper import yaml_parse

    template = yaml_parse((ROOT / "template.yaml").read_text(encoding="utf-8"))
    for resource in template["Resources"].values():
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(props.get(key), str):
                props[key] = f"s3://dockhand-artifacts/{props[key]}"

    class _NoManagedPolicyLookups:
        def load(self) -> dict[str, str]:
            return {}

    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    return dict(transform(template, {}, _NoManagedPolicyLookups()))


def functions() -> list[str]:
    return [k for k, v in translated_template()["Resources"].items() if v["Type"] == "AWS::Lambda::Function"]


def function_policy(stack: Any, function: str) -> FunctionPolicy:
    """The function's role policies, resolved against `stack` (a dockhand_local Stack in moto)."""
    from dockhand_local.stack import resolver

    resolve = resolver(stack, AUDIT_PARAMETERS)
    cfn = translated_template()["Resources"]
    source = stack.template["Resources"][function]
    declared = source["Properties"].get("Policies", [])
    reasons = source.get("Metadata", {}).get("PermissionAudit", {}).get("UnusedStatements", {})
    role = cfn[f"{function}Role"]["Properties"]
    policy = FunctionPolicy(function)
    for entry in role.get("Policies", []):
        name = entry["PolicyName"]
        document = _drop_novalue(resolve(copy.deepcopy(entry["PolicyDocument"])))
        for i, body in enumerate(_list(document.get("Statement"))):
            label = body.get("Sid") or _label(name, function, declared, i)
            policy.statements.append(Statement(label, body, reason_unused=reasons.get(label)))
    for arn in role.get("ManagedPolicyArns", []):
        name = str(arn).rsplit("/", 1)[-1]
        for i, body in enumerate(MANAGED[name]):
            label = name if len(MANAGED[name]) == 1 else f"{name}[{i}]"
            policy.statements.append(Statement(label, body, managed=True))
    return policy


def workload_policy(account: str) -> FunctionPolicy:
    """The inline policies of the role workload-account/template.yaml made in `account` (in moto, as deployed)."""
    import ast
    import json

    from moto.iam.models import iam_backends

    arn = next(a for a in AUDIT_PARAMETERS["WorkloadRoleArns"].split(",") if f"::{account}:" in a)
    roles = {r.arn: r for r in iam_backends[account]["aws"].roles.values()}
    policy = FunctionPolicy(f"role {arn}")
    for name, stored in roles[arn].policies.items():
        document = stored
        if isinstance(stored, str):  # JSON, or (moto's CloudFormation) the text of a Python dict
            document = json.loads(stored) if stored.lstrip().startswith('{"') else ast.literal_eval(stored)
        for i, body in enumerate(_list(document.get("Statement"))):
            policy.statements.append(Statement(body.get("Sid") or f"{name}[{i}]", body))
    return policy


def _label(policy_name: str, function: str, declared: list[Any], index: int) -> str:
    """`DeployerFunctionRolePolicy3` → the SAM template it came from and what it names."""
    match = re.fullmatch(rf"{function}RolePolicy(\d+)", policy_name)
    if not match:
        return policy_name if index == 0 else f"{policy_name}[{index}]"
    entry = declared[int(match.group(1))]
    if isinstance(entry, str):
        return entry
    ((template, args),) = entry.items()
    named = [_logical(v) for v in (args or {}).values()] if isinstance(args, dict) else []
    return f"{template}({', '.join(n for n in named if n)})"


def _logical(value: Any) -> str:
    if isinstance(value, dict) and len(value) == 1:
        ((key, arg),) = value.items()
        if key == "Ref":
            return str(arg)
        if key == "Fn::GetAtt":
            return str(arg[0] if isinstance(arg, list) else arg.split(".")[0])
    return str(value) if isinstance(value, str) else ""


def _drop_novalue(value: Any) -> Any:
    """What `!If [cond, x, !Ref AWS::NoValue]` leaves behind when the condition is false: nothing."""
    if isinstance(value, list):
        return [_drop_novalue(v) for v in value if v is not None]
    if isinstance(value, dict):
        return {k: _drop_novalue(v) for k, v in value.items() if v is not None}
    return value


# ------------------------------------------------------------------------------------------- evaluation


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def wildcard_match(pattern: str, value: str, case: bool = True) -> bool:
    """IAM wildcards: `*` any run of characters, `?` one character; nothing else is special."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, 0 if case else re.IGNORECASE) is not None


def _matches(statement: dict[str, Any], request: Request) -> bool:
    if "Action" in statement:
        if not any(wildcard_match(a, request.action, case=False) for a in _list(statement["Action"])):
            return False
    elif any(wildcard_match(a, request.action, case=False) for a in _list(statement.get("NotAction"))):
        return False
    if "Resource" in statement:
        if not any(wildcard_match(r, request.resource) for r in _list(statement["Resource"])):
            return False
    elif any(wildcard_match(r, request.resource) for r in _list(statement.get("NotResource"))):
        return False
    return _conditions_hold(statement.get("Condition", {}), dict(request.context))


_STRING = {
    "StringEquals": lambda want, got: got == want,
    "StringNotEquals": lambda want, got: got != want,
    "StringEqualsIgnoreCase": lambda want, got: got.lower() == want.lower(),
    "StringLike": lambda want, got: wildcard_match(want, got),
    "StringNotLike": lambda want, got: not wildcard_match(want, got),
    "ArnEquals": lambda want, got: got == want,
    "ArnLike": lambda want, got: wildcard_match(want, got),
    "ArnNotEquals": lambda want, got: got != want,
    "ArnNotLike": lambda want, got: not wildcard_match(want, got),
    "Bool": lambda want, got: got.lower() == str(want).lower(),
}


def _conditions_hold(conditions: dict[str, Any], context: dict[str, str]) -> bool:
    for operator, tests in conditions.items():
        if_exists = operator.endswith("IfExists")
        name = operator.removesuffix("IfExists")
        if name not in _STRING:
            raise ValueError(f"the audit cannot evaluate the condition operator {operator!r}: teach it first")
        negated = "Not" in name
        for key, wanted in tests.items():
            if key not in context:
                if if_exists:
                    continue
                if not negated:
                    return False
                continue
            got = context[key]
            results = [_STRING[name](str(w), got) for w in _list(wanted)]
            if not (all(results) if negated else any(results)):
                return False
    return True
