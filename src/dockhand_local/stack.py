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
    url: bool = False  # FunctionUrlConfig: served at `<function_urls>/fn/<LogicalId>/`


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
    function_urls: str = ""  # where function URLs are served (`<base>/fn/<LogicalId>/`); "" : nowhere

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
        if attr == "FunctionUrl":  # SAM's FunctionUrlConfig makes `<Function>Url`
            from dockhand_local.function_urls import url_of

            function = logical.removesuffix("Url")
            return url_of(self.stack.function_urls, function) if self.stack.function_urls else ""
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
    function_urls: str = "",
) -> Stack:
    """Create every resource the local world needs and register the stack `name` in CloudFormation with the
    template's Outputs (plus `extra_outputs`), as `sam deploy` would; return the Stack (names, ARNs, wiring)."""
    template = load_template(template_path)
    stack = Stack(region=region, template=template, name=name, function_urls=function_urls)
    params = _parameters(template)
    builder = _Builder(
        session, stack, template_path, endpoint_url, _Resolver(stack, params, _conditions(template, params))
    )
    # Names first (so !Ref / !GetAtt resolve), then resources in dependency order.
    for kind, build in builder.in_order():
        for logical in builder.by_type.get(kind, []):
            build(logical, builder.resources[logical].get("Properties", {}))
    for key, output in template.get("Outputs", {}).items():
        stack.outputs[key] = str(builder.resolve(output["Value"], f"{template_path.name}: Outputs.{key}.Value"))
    stack.outputs.update(extra_outputs or {})
    register_stack(builder.client("cloudformation"), stack)
    return stack


class _Builder:
    """Makes each kind of resource of the template in moto and records its names and ARNs in the Stack."""

    def __init__(self, session: Any, stack: Stack, template_path: Path, endpoint_url: str | None, resolve: Any):
        self.session, self.stack, self.template_path = session, stack, template_path
        self.endpoint_url, self.resolve = endpoint_url, resolve
        self.resources: dict[str, dict[str, Any]] = stack.template["Resources"]
        self.by_type: dict[str, list[str]] = {}
        for logical, res in self.resources.items():
            self.by_type.setdefault(res["Type"], []).append(logical)
        # Queues: DLQs first (a queue's redrive policy points at its DLQ's ARN).
        self.by_type.get("AWS::SQS::Queue", []).sort(
            key=lambda q: "RedrivePolicy" in self.resources[q].get("Properties", {})
        )

    def in_order(self) -> list[tuple[str, Any]]:
        return [
            ("AWS::KMS::Key", self.kms_key),
            ("AWS::DynamoDB::Table", self.table),
            ("AWS::SQS::Queue", self.queue),
            ("AWS::SNS::Topic", self.topic),
            ("AWS::SecretsManager::Secret", self.secret),
            ("AWS::Scheduler::ScheduleGroup", self.schedule_group),
            ("AWS::IAM::Role", self.role),
            ("AWS::Serverless::LayerVersion", self.layer),
            ("AWS::Serverless::Function", self.function_name),  # named before rules and environments resolve
            ("AWS::Events::Rule", self.rule),
            ("AWS::Serverless::Function", self.function),
        ]

    def client(self, service: str) -> Any:
        return self.session.client(service, region_name=self.stack.region, endpoint_url=self.endpoint_url)

    def where(self, logical: str) -> str:
        return f"{self.template_path.name}: Resources.{logical}.Properties"

    def _made(self, logical: str, physical: str, arn: str) -> None:
        self.stack.physical[logical] = physical
        self.stack.arns[logical] = arn

    def kms_key(self, logical: str, props: dict[str, Any]) -> None:
        key = self.client("kms").create_key(Description=f"dockhand {logical}")["KeyMetadata"]
        self._made(logical, key["KeyId"], key["Arn"])

    def table(self, logical: str, props: dict[str, Any]) -> None:
        name, ddb = f"dockhand-{logical}", self.client("dynamodb")
        ddb.create_table(
            TableName=name,
            AttributeDefinitions=props["AttributeDefinitions"],
            KeySchema=props["KeySchema"],
            BillingMode=props.get("BillingMode", "PAY_PER_REQUEST"),
        )
        if ttl := props.get("TimeToLiveSpecification"):
            ddb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
        self._made(logical, name, f"arn:aws:dynamodb:{self.stack.region}:{ACCOUNT}:table/{name}")

    def queue(self, logical: str, props: dict[str, Any]) -> None:
        fifo = bool(props.get("FifoQueue"))
        name = f"dockhand-{logical}" + (".fifo" if fifo else "")
        attributes: dict[str, str] = {"FifoQueue": "true"} if fifo else {}
        if fifo and props.get("ContentBasedDeduplication"):
            attributes["ContentBasedDeduplication"] = "true"
        if "VisibilityTimeout" in props:
            attributes["VisibilityTimeout"] = str(props["VisibilityTimeout"])
        if "RedrivePolicy" in props:
            policy = self.resolve(props["RedrivePolicy"], f"{self.where(logical)}.RedrivePolicy")
            attributes["RedrivePolicy"] = json.dumps(policy)
        sqs = self.client("sqs")
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        self.stack.queue_urls[logical] = url
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self._made(logical, url, arn)

    def topic(self, logical: str, props: dict[str, Any]) -> None:
        arn = self.client("sns").create_topic(Name=f"dockhand-{logical}")["TopicArn"]
        self._made(logical, arn, arn)

    def secret(self, logical: str, props: dict[str, Any]) -> None:
        secret = props.get("SecretString", "{}")
        arn = self.client("secretsmanager").create_secret(Name=f"dockhand/{logical}", SecretString=secret)["ARN"]
        self._made(logical, arn, arn)

    def schedule_group(self, logical: str, props: dict[str, Any]) -> None:
        name = self.resolve(props["Name"], f"{self.where(logical)}.Name")
        self._made(logical, name, self.client("scheduler").create_schedule_group(Name=name)["ScheduleGroupArn"])

    def role(self, logical: str, props: dict[str, Any]) -> None:
        trust = self.resolve(props["AssumeRolePolicyDocument"], f"{self.where(logical)}.AssumeRolePolicyDocument")
        role = self.client("iam").create_role(
            RoleName=f"dockhand-{logical}", AssumeRolePolicyDocument=json.dumps(trust)
        )
        self._made(logical, f"dockhand-{logical}", role["Role"]["Arn"])

    def layer(self, logical: str, props: dict[str, Any]) -> None:
        self.stack.physical[logical] = f"arn:aws:lambda:{self.stack.region}:{ACCOUNT}:layer:{logical}:1"

    def function_name(self, logical: str, props: dict[str, Any]) -> None:
        arn = f"arn:aws:lambda:{self.stack.region}:{ACCOUNT}:function:dockhand-{logical}"
        self._made(logical, f"dockhand-{logical}", arn)

    def rule(self, logical: str, props: dict[str, Any]) -> None:
        pattern = self.resolve(props["EventPattern"], f"{self.where(logical)}.EventPattern")
        events = self.client("events")
        events.put_rule(Name=logical, EventPattern=json.dumps(pattern), State=props.get("State", "ENABLED"))
        targets = [
            {"Id": t["Id"], "Arn": t["Arn"], **({"SqsParameters": t["SqsParameters"]} if "SqsParameters" in t else {})}
            for t in self.resolve(props.get("Targets", []), f"{self.where(logical)}.Targets")
        ]
        events.put_targets(Rule=logical, Targets=targets)
        self.stack.rules[logical] = {"pattern": pattern, "targets": targets}

    def function(self, logical: str, props: dict[str, Any]) -> None:
        globals_env = self.stack.template.get("Globals", {}).get("Function", {}).get("Environment", {})
        env = {**globals_env.get("Variables", {}), **props.get("Environment", {}).get("Variables", {})}
        where = f"{self.where(logical)}.Environment.Variables"
        resolved = {k: str(self.resolve(v, f"{where}.{k}")) for k, v in env.items()}
        spec = FunctionSpec(
            logical,
            code_dir=ROOT / props["CodeUri"],
            handler=props["Handler"],
            environment=resolved,
            url="FunctionUrlConfig" in props,
        )
        for event in props.get("Events", {}).values():
            if event["Type"] == "SQS":
                queue_logical = event["Properties"]["Queue"]["Fn::GetAtt"][0]
                spec.queue_logical_id = queue_logical
                spec.queue_url = self.stack.queue_urls[queue_logical]
                spec.batch_size = int(event["Properties"].get("BatchSize", 10))
        self.stack.functions[logical] = spec


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
