"""Record every AWS call a function's handler makes, and the IAM authorizations each call needs.

Recording wraps `botocore.client.BaseClient._make_api_call` for the length of a flow, so every client of every
session is seen: the layer's cached clients, the boto3 default session behind the DynamoDB resource, and the
sessions Powertools Parameters makes for itself (an event hook registered on one session would miss those).
A call is attributed to the function whose `lambda_handler` is running; calls the test makes itself (set-up,
reading results) happen outside any handler and are not recorded.

How a call becomes the authorizations IAM makes for it (service action → resource; + what it also authorizes):

- ecs DescribeServices, UpdateService → `service/<cluster>/<service>` per service;
  + UpdateService: iam:PassRole for the new revision's task and execution roles (PassedToService ecs-tasks)
- ecs DescribeTasks, StopTask → `task/<cluster>/<id>` per task
- ecs RunTask → `task-definition/<family>:<revision>`; + iam:PassRole for the revision's and the overrides' roles;
  + with tags, ecs:TagResource on `task/<cluster>/*` with ecs:CreateAction=RunTask
- ecs RegisterTaskDefinition → `*` (no resource type); + iam:PassRole for taskRoleArn/executionRoleArn;
  + with tags, ecs:TagResource on `task-definition/<family>:*` with ecs:CreateAction=RegisterTaskDefinition
- ecs DescribeTaskDefinition, DeregisterTaskDefinition, ListTaskDefinitions, ListServices, ListTasks → `*`:
  these actions support only `*` (ListServices/ListTasks take the cluster as a condition key, unused here)
- ecs ListTagsForResource, TagResource → `resourceArn`
- dynamodb item and query actions → `table/<name>` (`table/<name>/index/<index>` with IndexName); batch actions →
  `table/<name>` per table of RequestItems
- ecr DescribeImages → `repository/<name>` of the registry (registryId, default this account)
- sqs SendMessage, SendMessageBatch → the queue's ARN from its URL (IAM knows a batch as sqs:SendMessage);
  + kms:GenerateDataKey and kms:Decrypt on the queue's key (its KmsMasterKeyId in template.yaml)
- sns Publish → TopicArn; + kms:GenerateDataKey and kms:Decrypt on the topic's key
- secretsmanager GetSecretValue → the secret's full ARN (a name is looked up: IAM sees the ARN with its
  suffix); no KMS permission with the AWS-managed key
- ssm GetParameter(s) → `parameter/<name without its leading slash>`; no KMS permission with the AWS-managed key
- scheduler Create/Update/Delete/GetSchedule → `schedule/<group>/<name>`;
  + Create/Update: iam:PassRole for Target.RoleArn (PassedToService scheduler)
- scheduler ListSchedules → `*` (supports only `*`)
- cloudwatch DescribeAlarms (by AlarmNames) → `alarm:<name>` per alarm
- sts AssumeRole → the role's ARN (a workload account's role: the WorkloadRoleArns parameter)
- the SQS event source (Lambda's poller, with the function's role) → the function's queue: sqs:ReceiveMessage,
  DeleteMessage, GetQueueAttributes; + kms:Decrypt on the queue's key

A call with no entry in MAPPING fails the audit: a new call is mapped on purpose, never guessed.

A call made with the credentials of a role assumed in another account is that role's, not the function's: it is
recorded as `WORKLOAD + <account>` and checked against the role the workload-account template made there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tests.audit.policies import Request

ACCOUNT = "123456789012"
WORKLOAD = "the workload role in "  # the function a call made through a workload account's role is recorded as


@dataclass
class Call:
    function: str
    service: str
    operation: str
    requests: list[Request]

    @property
    def name(self) -> str:
        return f"{self.service}:{self.operation}"


@dataclass
class Recorder:
    stack: Any
    calls: list[Call] = field(default_factory=list)
    _function: str | None = None
    _paused: bool = False

    # -------------------------------------------------------------------------------------- recording
    @contextmanager
    def recording(self, monkeypatch: Any) -> Iterator[Recorder]:
        from botocore.client import BaseClient

        original = BaseClient._make_api_call
        recorder = self

        def recorded(client: Any, operation: str, params: dict[str, Any]) -> Any:
            if recorder._function and not recorder._paused:
                recorder._record(client, operation, params)
            return original(client, operation, params)

        monkeypatch.setattr(BaseClient, "_make_api_call", recorded)
        yield self

    def wrap(self, function: str, handler: Callable[..., Any]) -> Callable[..., Any]:
        """The handler as Lambda runs it for `function`: its calls (and its SQS poller's) are recorded."""

        def run(event: dict[str, Any], context: Any) -> Any:
            outer, self._function = self._function, function
            try:
                if any(r.get("eventSource") == "aws:sqs" for r in event.get("Records", [])):
                    self.calls.append(Call(function, "lambda", "SQS event source", self._poller(function)))
                return handler(event, context)
            finally:
                self._function = outer

        return run

    @contextmanager
    def paused(self) -> Iterator[None]:
        self._paused = True
        try:
            yield
        finally:
            self._paused = False

    def _record(self, client: Any, operation: str, params: dict[str, Any]) -> None:
        service = client.meta.service_model.signing_name
        region = client.meta.region_name
        account, credentials = _caller(client)
        derive = MAPPING.get(f"{service}:{operation}")
        if derive is None:
            raise AssertionError(
                f"{self._function} calls {service}:{operation}, which the audit cannot map to a resource: "
                "add it to tests/audit/recorder.py MAPPING"
            )
        with self.paused():
            requests = derive(Context(self, region, account, credentials), params)
        function = str(self._function) if account == ACCOUNT else f"{WORKLOAD}{account}"
        self.calls.append(Call(function, service, operation, requests))

    def _poller(self, function: str) -> list[Request]:
        queue = self.stack.functions[function].queue_logical_id
        arn = self.stack.arns[queue]
        via = "the SQS event source"
        out = [Request(f"sqs:{a}", arn, via=via) for a in ("ReceiveMessage", "DeleteMessage", "GetQueueAttributes")]
        key = self.key_of(arn)
        return out + ([Request("kms:Decrypt", key, via=via)] if key else [])

    # -------------------------------------------------------------------------------------- lookups
    def key_of(self, arn: str) -> str | None:
        """The KMS key ARN a queue or topic of the stack is encrypted with (its KmsMasterKeyId in template.yaml)."""
        for logical, resource in self.stack.template["Resources"].items():
            key = resource.get("Properties", {}).get("KmsMasterKeyId")
            if key and self.stack.arns.get(logical) == arn:
                return str(self.stack.arns[key["Ref"]])
        return None


def _caller(client: Any) -> tuple[str, Any]:
    """The account a client acts in (moto knows it from the access key), and its credentials."""
    from moto.iam.models import get_account_id_from

    credentials = client._request_signer._credentials.get_frozen_credentials()
    return get_account_id_from(credentials.access_key), credentials


@dataclass
class Context:
    recorder: Recorder
    region: str
    account: str = ACCOUNT
    credentials: Any = None  # the caller's, to read what a call names in its own account

    def arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.region}:{self.account}:{resource}"

    def client(self, service: str) -> Any:
        import boto3

        if self.credentials is None:
            return boto3.client(service, region_name=self.region)
        return boto3.client(
            service,
            region_name=self.region,
            aws_access_key_id=self.credentials.access_key,
            aws_secret_access_key=self.credentials.secret_key,
            aws_session_token=self.credentials.token,
        )


# ------------------------------------------------------------------------------------------------ ecs


def _name(value: str) -> str:
    return value.rsplit("/", 1)[-1]


def _ecs_service(c: Context, cluster: str | None, service: str) -> str:
    if service.startswith("arn:"):
        return service
    return c.arn("ecs", f"service/{_name(cluster or 'default')}/{service}")


def _ecs_task(c: Context, cluster: str | None, task: str) -> str:
    return task if task.startswith("arn:") else c.arn("ecs", f"task/{_name(cluster or 'default')}/{task}")


def _taskdef(c: Context, value: str) -> str:
    if value.startswith("arn:"):
        return value
    return c.arn("ecs", f"task-definition/{value if ':' in value else value + ':*'}")


def _pass_roles(roles: list[str | None], service: str, via: str) -> list[Request]:
    return [
        Request("iam:PassRole", role, (("iam:PassedToService", service),), via) for role in dict.fromkeys(roles) if role
    ]


def _taskdef_roles(c: Context, taskdef: str) -> list[str | None]:
    td = c.client("ecs").describe_task_definition(taskDefinition=taskdef)["taskDefinition"]
    return [td.get("taskRoleArn"), td.get("executionRoleArn")]


def _star(action: str) -> Callable[[Context, dict[str, Any]], list[Request]]:
    return lambda c, p: [Request(action, "*")]


def _describe_services(c: Context, p: dict[str, Any]) -> list[Request]:
    return [Request("ecs:DescribeServices", _ecs_service(c, p.get("cluster"), s)) for s in p["services"]]


def _update_service(c: Context, p: dict[str, Any]) -> list[Request]:
    out = [Request("ecs:UpdateService", _ecs_service(c, p.get("cluster"), p["service"]))]
    if p.get("taskDefinition"):
        out += _pass_roles(_taskdef_roles(c, p["taskDefinition"]), "ecs-tasks.amazonaws.com", "UpdateService")
    return out


def _tasks(action: str) -> Callable[[Context, dict[str, Any]], list[Request]]:
    def derive(c: Context, p: dict[str, Any]) -> list[Request]:
        tasks = p["tasks"] if "tasks" in p else [p["task"]]
        return [Request(action, _ecs_task(c, p.get("cluster"), t)) for t in tasks]

    return derive


def _run_task(c: Context, p: dict[str, Any]) -> list[Request]:
    out = [Request("ecs:RunTask", _taskdef(c, p["taskDefinition"]))]
    overrides = p.get("overrides", {})
    roles = [*_taskdef_roles(c, p["taskDefinition"]), overrides.get("taskRoleArn"), overrides.get("executionRoleArn")]
    out += _pass_roles(roles, "ecs-tasks.amazonaws.com", "RunTask")
    if p.get("tags"):
        task = c.arn("ecs", f"task/{_name(p.get('cluster', 'default'))}/*")
        out.append(Request("ecs:TagResource", task, (("ecs:CreateAction", "RunTask"),), "RunTask"))
    return out


def _register(c: Context, p: dict[str, Any]) -> list[Request]:
    out = [Request("ecs:RegisterTaskDefinition", "*")]
    roles = [p.get("taskRoleArn"), p.get("executionRoleArn")]
    out += _pass_roles(roles, "ecs-tasks.amazonaws.com", "RegisterTaskDefinition")
    if p.get("tags"):
        arn = c.arn("ecs", f"task-definition/{p['family']}:*")
        context = (("ecs:CreateAction", "RegisterTaskDefinition"),)
        out.append(Request("ecs:TagResource", arn, context, "RegisterTaskDefinition"))
    return out


# ------------------------------------------------------------------------------------------- the rest


def _table(action: str) -> Callable[[Context, dict[str, Any]], list[Request]]:
    def derive(c: Context, p: dict[str, Any]) -> list[Request]:
        index = f"/index/{p['IndexName']}" if p.get("IndexName") else ""
        return [Request(f"dynamodb:{action}", c.arn("dynamodb", f"table/{p['TableName']}{index}"))]

    return derive


def _batch(action: str) -> Callable[[Context, dict[str, Any]], list[Request]]:
    return lambda c, p: [Request(f"dynamodb:{action}", c.arn("dynamodb", f"table/{t}")) for t in p["RequestItems"]]


def _ecr_repository(action: str) -> Callable[[Context, dict[str, Any]], list[Request]]:
    def derive(c: Context, p: dict[str, Any]) -> list[Request]:
        account = p.get("registryId", ACCOUNT)
        return [Request(f"ecr:{action}", f"arn:aws:ecr:{c.region}:{account}:repository/{p['repositoryName']}")]

    return derive


def _kms_for(c: Context, arn: str, via: str) -> list[Request]:
    key = c.recorder.key_of(arn)
    return [Request(f"kms:{a}", key, via=via) for a in ("GenerateDataKey", "Decrypt")] if key else []


def _send(action: str) -> Callable[[Context, dict[str, Any]], list[Request]]:
    def derive(c: Context, p: dict[str, Any]) -> list[Request]:
        account, name = p["QueueUrl"].rstrip("/").split("/")[-2:]
        arn = f"arn:aws:sqs:{c.region}:{account}:{name}"
        return [Request(f"sqs:{action}", arn), *_kms_for(c, arn, action)]

    return derive


def _publish(c: Context, p: dict[str, Any]) -> list[Request]:
    return [Request("sns:Publish", p["TopicArn"]), *_kms_for(c, p["TopicArn"], "Publish")]


def _secret(c: Context, p: dict[str, Any]) -> list[Request]:
    secret = p["SecretId"]
    if not secret.startswith("arn:"):
        secret = c.client("secretsmanager").describe_secret(SecretId=secret)["ARN"]
    return [Request("secretsmanager:GetSecretValue", secret)]


def _parameters(action: str) -> Callable[[Context, dict[str, Any]], list[Request]]:
    def derive(c: Context, p: dict[str, Any]) -> list[Request]:
        names = p["Names"] if "Names" in p else [p["Name"]]
        return [Request(f"ssm:{action}", c.arn("ssm", f"parameter/{n.lstrip('/')}")) for n in names]

    return derive


def _schedule(action: str) -> Callable[[Context, dict[str, Any]], list[Request]]:
    def derive(c: Context, p: dict[str, Any]) -> list[Request]:
        arn = c.arn("scheduler", f"schedule/{p.get('GroupName', 'default')}/{p['Name']}")
        out = [Request(f"scheduler:{action}", arn)]
        role = p.get("Target", {}).get("RoleArn")
        return out + _pass_roles([role], "scheduler.amazonaws.com", action)

    return derive


MAPPING: dict[str, Callable[[Context, dict[str, Any]], list[Request]]] = {
    "ecs:DescribeServices": _describe_services,
    "ecs:UpdateService": _update_service,
    "ecs:DescribeTasks": _tasks("ecs:DescribeTasks"),
    "ecs:StopTask": _tasks("ecs:StopTask"),
    "ecs:RunTask": _run_task,
    "ecs:RegisterTaskDefinition": _register,
    "ecs:DescribeTaskDefinition": _star("ecs:DescribeTaskDefinition"),
    "ecs:DeregisterTaskDefinition": _star("ecs:DeregisterTaskDefinition"),
    "ecs:ListTaskDefinitions": _star("ecs:ListTaskDefinitions"),
    "ecs:ListServices": _star("ecs:ListServices"),
    "ecs:ListTasks": _star("ecs:ListTasks"),
    "ecs:ListTagsForResource": lambda c, p: [Request("ecs:ListTagsForResource", p["resourceArn"])],
    "ecs:TagResource": lambda c, p: [Request("ecs:TagResource", p["resourceArn"])],
    **{
        f"dynamodb:{a}": _table(a)
        for a in ("GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "DescribeTable")
    },
    "dynamodb:BatchWriteItem": _batch("BatchWriteItem"),
    "dynamodb:BatchGetItem": _batch("BatchGetItem"),
    "ecr:DescribeImages": _ecr_repository("DescribeImages"),
    "sqs:SendMessage": _send("SendMessage"),
    "sqs:SendMessageBatch": _send("SendMessage"),  # IAM authorizes a batch as sqs:SendMessage
    "sns:Publish": _publish,
    "secretsmanager:GetSecretValue": _secret,
    "ssm:GetParameter": _parameters("GetParameter"),
    "ssm:GetParameters": _parameters("GetParameters"),
    "scheduler:CreateSchedule": _schedule("CreateSchedule"),
    "scheduler:UpdateSchedule": _schedule("UpdateSchedule"),
    "scheduler:DeleteSchedule": _schedule("DeleteSchedule"),
    "scheduler:GetSchedule": _schedule("GetSchedule"),
    "scheduler:ListSchedules": _star("scheduler:ListSchedules"),
    "sts:AssumeRole": lambda c, p: [Request("sts:AssumeRole", p["RoleArn"])],
    # CloudWatch signs as `monitoring`; IAM knows its actions as cloudwatch:*, on `alarm:<name>`.
    "monitoring:DescribeAlarms": lambda c, p: [
        Request("cloudwatch:DescribeAlarms", c.arn("cloudwatch", f"alarm:{name}")) for name in p.get("AlarmNames", [])
    ],
}


def tighter_variants(request: Request) -> list[Request]:
    """Requests a least-privilege policy must refuse although it allows `request`: the grant must hang on the
    request's condition keys. A tag on create must not be a tag on anything (ecs:TagResource called directly has
    no ecs:CreateAction); a role passed to ECS or Scheduler must not pass to any other service (Lambda here)."""
    context = dict(request.context)
    if "ecs:CreateAction" in context:
        return [Request(request.action, request.resource, (), "a direct TagResource call")]
    if "iam:PassedToService" in context:
        other = (("iam:PassedToService", "lambda.amazonaws.com"),)
        return [Request(request.action, request.resource, other, "passing it to another service")]
    return []
