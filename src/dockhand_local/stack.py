"""Create the stack's resources from template.yaml in any AWS endpoint (moto in-process or in server mode).

template.yaml is the single source: tables, queues (with their redrive policies), topics, secrets, the schedule
group, roles, EventBridge rules with the template's own patterns and SQS targets, and, per function, the
environment Lambda would give it (Globals merged with the function's own) and the queue it consumes.
Tests and `dockhand local` both build their world through `create_stack`.
"""

from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
ACCOUNT = "123456789012"
STACK_NAME = "dockhand"  # samconfig.toml's stack_name
LOCAL_CONTROL_OUTPUT = "LocalControlUrl"  # an output only the local runtime's stack has: its control API (and clock)


class _CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation short-form tags (!Ref, !GetAtt, !Sub, !If …) as {'Ref': …} / {'Fn::X': …}."""


def _construct(tag: str):
    def build(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if tag == "GetAtt":
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return {"Ref": value} if tag == "Ref" else {f"Fn::{tag}": value}

    return build


for _tag in (
    "Ref",
    "GetAtt",
    "Sub",
    "If",
    "Not",
    "Equals",
    "Join",
    "Select",
    "Split",
    "FindInMap",
    "ImportValue",
    "GetAZs",
    "Base64",
    "And",
    "Or",
    "Condition",
):
    _CfnLoader.add_constructor(f"!{_tag}", _construct(_tag))


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_CfnLoader)


@dataclass
class FunctionSpec:
    logical_id: str
    code_dir: Path
    handler: str
    environment: dict[str, str]
    queue_logical_id: str | None = None
    queue_url: str | None = None
    batch_size: int = 10


@dataclass
class Stack:
    """What `create_stack` made: physical names by logical id, and the functions wired to their queues."""

    region: str
    template: dict[str, Any]
    name: str = STACK_NAME
    physical: dict[str, str] = field(default_factory=dict)  # Ref value
    arns: dict[str, str] = field(default_factory=dict)  # GetAtt .Arn
    queue_urls: dict[str, str] = field(default_factory=dict)
    functions: dict[str, FunctionSpec] = field(default_factory=dict)
    rules: dict[str, dict[str, Any]] = field(default_factory=dict)  # logical id -> {pattern, targets}
    outputs: dict[str, str] = field(default_factory=dict)  # the template's Outputs, resolved

    def queue_url(self, logical_id: str) -> str:
        return self.queue_urls[logical_id]

    @property
    def table_name(self) -> str:
        return self.physical["StateTable"]

    @property
    def topic_arn(self) -> str:
        return self.physical["NotificationTopic"]

    def env_for(self, function_logical_id: str) -> dict[str, str]:
        return dict(self.functions[function_logical_id].environment)


class TemplateError(ValueError):
    """template.yaml uses something the local stack cannot build; the message names the place and the reason."""


SUPPORTED_INTRINSICS = ("Ref", "Fn::GetAtt", "Fn::Sub", "Fn::If", "Fn::Join", "Fn::Select", "Fn::Split")


class _Resolver:
    """Resolves the intrinsic functions the local stack supports; any other one is refused with its place."""

    def __init__(self, stack: Stack, parameters: dict[str, str], conditions: dict[str, bool]) -> None:
        self.stack = stack
        self.parameters = parameters
        self.conditions = conditions

    def __call__(self, value: Any, where: str = "template.yaml") -> Any:
        if isinstance(value, list):
            return [self(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self._ref(arg)
            if key == "Fn::GetAtt":
                logical, attr = arg if isinstance(arg, list) else arg.split(".", 1)
                return self._getatt(logical, attr)
            if key == "Fn::Sub":
                return self._sub(arg, where)
            if key == "Fn::If":
                name, yes, no = arg
                return self(yes if self.conditions.get(name, False) else no, where)
            if key == "Fn::Join":
                sep, parts = arg
                return sep.join(str(p) for p in _flat(self(parts, where)))
            if key == "Fn::Select":
                index, items = arg
                return self(self(items, where)[int(self(index, where))], where)
            if key == "Fn::Split":
                sep, text = arg
                return str(self(text, where)).split(sep)
            if key.startswith("Fn::") or key == "Condition":
                supported = ", ".join(SUPPORTED_INTRINSICS)
                raise TemplateError(f"{where}: {key} is not supported by the local stack (it resolves {supported})")
        return {k: self(v, f"{where}.{k}") for k, v in value.items()}

    def _ref(self, name: str) -> Any:
        pseudo = {
            "AWS::Region": self.stack.region,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": "aws",
            "AWS::StackName": self.stack.name,
            "AWS::NoValue": None,
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            value = self.parameters[name]
            if self.stack.template.get("Parameters", {}).get(name, {}).get("Type") == "CommaDelimitedList":
                return value.split(",")
            return value
        return self.stack.physical.get(name, name)

    def _getatt(self, logical: str, attr: str) -> str:
        if attr == "Arn":
            return self.stack.arns.get(logical, f"arn:aws:local:::{logical}")
        if attr in ("QueueName", "TopicName"):
            return self.stack.arns.get(logical, logical).rsplit(":", 1)[-1]
        return self.stack.physical.get(logical, logical)

    def _sub(self, arg: Any, where: str) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])

        def repl(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(self(variables[name], where))
            if "." in name:
                logical, attr = name.split(".", 1)
                return str(self._getatt(logical, attr))
            return str(self._ref(name))

        return re.sub(r"\$\{([^}]+)\}", repl, text)


def _flat(value: Any) -> list[Any]:
    """A Join's parts: a list, or one value that resolved to a list (a CommaDelimitedList parameter)."""
    out: list[Any] = []
    for part in value if isinstance(value, list) else [value]:
        out += part if isinstance(part, list) else [part]
    return out


def resolver(stack: Stack, parameters: dict[str, str] | None = None) -> Any:
    """Resolve template values (the SUPPORTED_INTRINSICS; any other is a TemplateError) against this stack, with
    parameter overrides."""
    params = {**_parameters(stack.template), **(parameters or {})}
    return _Resolver(stack, params, _conditions(stack.template, params))


def _parameters(template: dict[str, Any]) -> dict[str, str]:
    return {name: str(spec.get("Default", "")) for name, spec in template.get("Parameters", {}).items()}


def _conditions(template: dict[str, Any], parameters: dict[str, str]) -> dict[str, bool]:
    out: dict[str, bool] = {}

    def ev(expr: Any, where: str) -> Any:
        if isinstance(expr, dict) and len(expr) == 1:
            ((key, arg),) = expr.items()
            if key == "Fn::Equals":
                return ev(arg[0], where) == ev(arg[1], where)
            if key == "Fn::Not":
                return not ev(arg[0], where)
            if key == "Fn::And":
                return all(ev(a, where) for a in arg)
            if key == "Fn::Or":
                return any(ev(a, where) for a in arg)
            if key == "Fn::Join":  # only to test a list parameter for emptiness: its text stands for the list
                parts = arg[1] if isinstance(arg[1], list) else [arg[1]]
                return arg[0].join(str(ev(part, where)) for part in parts)
            if key == "Ref":
                return parameters.get(arg, arg)
            if key == "Condition":
                return out.get(arg, False)
            raise TemplateError(f"{where}: {key} is not supported in a condition by the local stack")
        return expr

    for name, expr in template.get("Conditions", {}).items():
        out[name] = bool(ev(expr, f"template.yaml: Conditions.{name}"))
    return out


def create_stack(
    session: Any,
    region: str = "us-east-1",
    template_path: Path = TEMPLATE,
    endpoint_url: str | None = None,
    *,
    name: str = STACK_NAME,
    extra_outputs: dict[str, str] | None = None,
) -> Stack:
    """Create every resource the local world needs and register the stack `name` in CloudFormation with the
    template's Outputs (plus `extra_outputs`), as `sam deploy` would; return the Stack (names, ARNs, wiring)."""
    template = load_template(template_path)
    stack = Stack(region=region, template=template, name=name)
    params = _parameters(template)
    resolve = _Resolver(stack, params, _conditions(template, params))
    resources: dict[str, dict[str, Any]] = template["Resources"]

    def where(logical: str) -> str:
        return f"{template_path.name}: Resources.{logical}.Properties"

    def c(service: str) -> Any:
        return session.client(service, region_name=region, endpoint_url=endpoint_url)

    by_type: dict[str, list[str]] = {}
    for logical, res in resources.items():
        by_type.setdefault(res["Type"], []).append(logical)

    # Names first (so !Ref / !GetAtt resolve), then resources in dependency order.
    for logical in by_type.get("AWS::KMS::Key", []):
        key = c("kms").create_key(Description=f"dockhand {logical}")["KeyMetadata"]
        stack.physical[logical] = key["KeyId"]
        stack.arns[logical] = key["Arn"]

    for logical in by_type.get("AWS::DynamoDB::Table", []):
        props = resources[logical]["Properties"]
        name = f"dockhand-{logical}"
        ddb = c("dynamodb")
        ddb.create_table(
            TableName=name,
            AttributeDefinitions=props["AttributeDefinitions"],
            KeySchema=props["KeySchema"],
            BillingMode=props.get("BillingMode", "PAY_PER_REQUEST"),
        )
        ttl = props.get("TimeToLiveSpecification")
        if ttl:
            ddb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
        stack.physical[logical] = name
        stack.arns[logical] = f"arn:aws:dynamodb:{region}:{ACCOUNT}:table/{name}"

    # Queues: DLQs first (a queue's redrive policy points at its DLQ's ARN).
    queues = by_type.get("AWS::SQS::Queue", [])
    queues.sort(key=lambda q: "RedrivePolicy" in resources[q].get("Properties", {}))
    sqs = c("sqs")
    for logical in queues:
        props = resources[logical].get("Properties", {})
        fifo = bool(props.get("FifoQueue"))
        name = f"dockhand-{logical}" + (".fifo" if fifo else "")
        attributes: dict[str, str] = {}
        if fifo:
            attributes["FifoQueue"] = "true"
            if props.get("ContentBasedDeduplication"):
                attributes["ContentBasedDeduplication"] = "true"
        if "VisibilityTimeout" in props:
            attributes["VisibilityTimeout"] = str(props["VisibilityTimeout"])
        if "RedrivePolicy" in props:
            attributes["RedrivePolicy"] = json.dumps(resolve(props["RedrivePolicy"], f"{where(logical)}.RedrivePolicy"))
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        stack.physical[logical] = url
        stack.queue_urls[logical] = url
        stack.arns[logical] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]

    for logical in by_type.get("AWS::SNS::Topic", []):
        arn = c("sns").create_topic(Name=f"dockhand-{logical}")["TopicArn"]
        stack.physical[logical] = arn
        stack.arns[logical] = arn

    for logical in by_type.get("AWS::SecretsManager::Secret", []):
        props = resources[logical].get("Properties", {})
        arn = c("secretsmanager").create_secret(
            Name=f"dockhand/{logical}", SecretString=props.get("SecretString", "{}")
        )["ARN"]
        stack.physical[logical] = arn
        stack.arns[logical] = arn

    for logical in by_type.get("AWS::Scheduler::ScheduleGroup", []):
        name = resolve(resources[logical]["Properties"]["Name"], f"{where(logical)}.Name")
        arn = c("scheduler").create_schedule_group(Name=name)["ScheduleGroupArn"]
        stack.physical[logical] = name
        stack.arns[logical] = arn

    for logical in by_type.get("AWS::IAM::Role", []):
        props = resources[logical]["Properties"]
        arn = c("iam").create_role(
            RoleName=f"dockhand-{logical}",
            AssumeRolePolicyDocument=json.dumps(
                resolve(props["AssumeRolePolicyDocument"], f"{where(logical)}.AssumeRolePolicyDocument")
            ),
        )["Role"]["Arn"]
        stack.physical[logical] = f"dockhand-{logical}"
        stack.arns[logical] = arn

    for logical in by_type.get("AWS::Serverless::LayerVersion", []):
        stack.physical[logical] = f"arn:aws:lambda:{region}:{ACCOUNT}:layer:{logical}:1"

    # Functions: name them before rules and environments resolve.
    for logical in by_type.get("AWS::Serverless::Function", []):
        stack.physical[logical] = f"dockhand-{logical}"
        stack.arns[logical] = f"arn:aws:lambda:{region}:{ACCOUNT}:function:dockhand-{logical}"

    events = c("events")
    for logical in by_type.get("AWS::Events::Rule", []):
        props = resources[logical]["Properties"]
        pattern = resolve(props["EventPattern"], f"{where(logical)}.EventPattern")
        events.put_rule(Name=logical, EventPattern=json.dumps(pattern), State=props.get("State", "ENABLED"))
        targets = []
        for target in resolve(props.get("Targets", []), f"{where(logical)}.Targets"):
            spec: dict[str, Any] = {"Id": target["Id"], "Arn": target["Arn"]}
            if "SqsParameters" in target:
                spec["SqsParameters"] = target["SqsParameters"]
            targets.append(spec)
        events.put_targets(Rule=logical, Targets=targets)
        stack.rules[logical] = {"pattern": pattern, "targets": targets}

    globals_env = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    for logical in by_type.get("AWS::Serverless::Function", []):
        props = resources[logical]["Properties"]
        env = {**globals_env, **props.get("Environment", {}).get("Variables", {})}
        resolved = {k: str(resolve(v, f"{where(logical)}.Environment.Variables.{k}")) for k, v in env.items()}
        spec_fn = FunctionSpec(
            logical_id=logical,
            code_dir=ROOT / props["CodeUri"],
            handler=props["Handler"],
            environment=resolved,
        )
        for event in props.get("Events", {}).values():
            if event["Type"] == "SQS":
                queue_logical = event["Properties"]["Queue"]["Fn::GetAtt"][0]
                spec_fn.queue_logical_id = queue_logical
                spec_fn.queue_url = stack.queue_urls[queue_logical]
                spec_fn.batch_size = int(event["Properties"].get("BatchSize", 10))
        stack.functions[logical] = spec_fn

    for key, output in template.get("Outputs", {}).items():
        stack.outputs[key] = str(resolve(output["Value"], f"{template_path.name}: Outputs.{key}.Value"))
    stack.outputs.update(extra_outputs or {})
    register_stack(c("cloudformation"), stack)
    return stack


def register_stack(cloudformation: Any, stack: Stack) -> None:
    """A CloudFormation stack record whose outputs are the local stack's, so `describe_stacks` finds it as it
    finds a deployed one. Its only resource is a placeholder: the resources themselves were made above."""
    body = {
        "Description": f"Dockhand, created locally from template.yaml (region {stack.region})",
        "Resources": {"LocalStack": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
        "Outputs": {key: {"Value": value} for key, value in stack.outputs.items()},
    }
    with warnings.catch_warnings():  # moto says it does not build the placeholder, which is the point
        warnings.filterwarnings("ignore", message="Tried to parse AWS::CloudFormation::WaitConditionHandle")
        cloudformation.create_stack(StackName=stack.name, TemplateBody=json.dumps(body))
