"""Property-based tests of every handler: structure-aware mutations of the sample messages, through the real
`lambda_handler`, with the stack in moto and every AWS call the handler's clients make recorded.

Per handler, over every case:
- unhandled exceptions: 0 — nothing escapes the handler, and a record that fails does so with a RetryableError
  (an AWS fault worth retrying), never with an exception of ours;
- AWS mutations on invalid input: 0 — a case the contract refuses (`mutations.must_refuse`), or that the handler
  parks, changes nothing in AWS (no Register/Update/RunTask/StopTask/Publish/SendMessage/PutItem/UpdateItem/
  CreateSchedule…, no Slack post) but its park in the function's DLQ;
- garbage retried: 0 — a refused case is parked at its first receive, never in `batchItemFailures`.

`make test` runs 300 cases per handler; `make fuzz` (called by `make check`) runs 5,000 (`-m fuzz`). The figures of
each run are printed at the end of the session.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings

from dockhand.errors import RetryableError
from dockhand_local.lambda_context import LambdaContext
from dockhand_local.slack import LoopbackSlack
from tests.fuzz.mutations import Case, cases, must_refuse
from tests.integration.batch_helpers import BatchWorld, tasks_stay_running
from tests.support.aws_calls import AwsCalls
from tests.support.cfn import CfnReceiver
from tests.support.events import EVENTS, sqs_event

REGION = "us-east-1"
ACCOUNT = "123456789012"
SAMPLES = Path(__file__).parents[1] / "samples"
ECR_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")
ECR_DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")

FIGURES = pytest.StashKey["Figures"]()
EXAMPLES = [
    pytest.param(300, id="300"),
    pytest.param(5000, id="5000", marks=[pytest.mark.fuzz, pytest.mark.timeout(3600)]),
]


def samples(*names: str) -> dict[str, dict[str, Any]]:
    out = {}
    for name in names:
        path = EVENTS / name if (EVENTS / name).exists() else SAMPLES / name
        out[name] = json.loads(path.read_text())
    return out


@dataclass
class Figures:
    handler: str
    cases: int = 0
    refused_by_contract: int = 0
    parked: int = 0
    accepted: int = 0
    retried_with_aws_fault: int = 0
    unhandled_exceptions: int = 0
    aws_mutations_on_invalid_input: int = 0
    garbage_retried: int = 0
    not_deliverable: int = 0  # schedule sync only: bodies the Lambda service would not decode as JSON

    def line(self) -> str:
        parts = ", ".join(f"{f.name.replace('_', ' ')} {getattr(self, f.name)}" for f in fields(self)[1:])
        return f"{self.handler}: {parts}"


@dataclass
class Outcome:
    raised: BaseException | None
    failed: bool
    errors: list[BaseException]
    parked: bool
    mutations: list[str]


def judge(case: Case, outcome: Outcome, figures: Figures) -> None:
    """The three properties, counted and asserted (hypothesis shrinks any case that breaks one)."""
    refuse = must_refuse(case)
    invalid = refuse or outcome.parked
    figures.cases += 1
    figures.refused_by_contract += refuse
    figures.parked += outcome.parked
    figures.accepted += not outcome.parked
    bugs = [e for e in outcome.errors if not isinstance(e, RetryableError)]
    figures.retried_with_aws_fault += outcome.failed and not bugs
    figures.unhandled_exceptions += (outcome.raised is not None) + len(bugs)
    figures.aws_mutations_on_invalid_input += len(outcome.mutations) if invalid else 0
    figures.garbage_retried += invalid and outcome.failed
    assert outcome.raised is None, f"{case}: the handler raised {outcome.raised!r}"
    assert not bugs, f"{case}: a record failed with {bugs!r}"
    if refuse:
        assert outcome.parked, f"{case}: the contract refuses it, the handler did not park it"
    if invalid:
        assert outcome.mutations == [], f"{case}: invalid input changed {outcome.mutations}"
        assert not outcome.failed, f"{case}: invalid input is retried"


def run(examples: int, strategy: Any, check: Callable[[Case], None], request: pytest.FixtureRequest) -> None:
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
    )
    @given(strategy)
    def each(case: Case) -> None:
        check(case)

    each()
    request.node.user_properties.append(("fuzz", request.node.stash[FIGURES].line()))


@pytest.fixture
def report(request: pytest.FixtureRequest) -> Callable[[str], Figures]:
    """Figures for one handler; `run` adds them to the test's report, and the session prints them."""

    def start(handler: str) -> Figures:
        figures = Figures(handler)
        request.node.stash[FIGURES] = figures
        return figures

    return start


@pytest.fixture
def slack() -> Iterator[LoopbackSlack]:
    with LoopbackSlack() as server:
        yield server


def use_slack(stack: Any, slack: LoopbackSlack) -> None:
    from aws_lambda_powertools.utilities import parameters

    boto3.client("secretsmanager", region_name=REGION).put_secret_value(
        SecretId=stack.physical["SlackSecret"], SecretString=json.dumps({"webhook_url": slack.webhook_url})
    )
    parameters.clear_caches()


def sqs_outcome(app: Any, event: dict[str, Any], calls: AwsCalls, dlq: str, slack: LoopbackSlack | None) -> Outcome:
    calls.clear()
    posted = len(slack.messages) if slack else 0
    raised: BaseException | None = None
    result: dict[str, Any] = {"batchItemFailures": []}
    try:
        result = app.lambda_handler(event, LambdaContext())
    except Exception as exc:  # counted and reported by judge
        raised = exc
    mutations = calls.mutations(dlq) + ["slack:post"] * ((len(slack.messages) - posted) if slack else 0)
    return Outcome(
        raised=raised,
        failed=bool(result.get("batchItemFailures")),
        errors=[info[1] for info in app.processor.exceptions if info[1] is not None],
        parked=bool(calls.parks(dlq)),
        mutations=mutations,
    )


# -------------------------------------------------------------------------------------------- deployer


@pytest.mark.parametrize("examples", EXAMPLES)
def test_deployer_decides_bad_input_at_the_edge(examples, stack, write_config, function_env, slack, report, request):
    ecs = boto3.client("ecs", region_name=REGION)
    ecs.create_cluster(clusterName="prod")
    for service, image in (
        ("web", f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/web:1.0.0"),
        ("api", f"{ACCOUNT}.dkr.ecr.us-west-2.amazonaws.com/my-repository-name:1"),
    ):
        td = ecs.register_task_definition(
            family=service, containerDefinitions=[{"name": service, "image": image, "memory": 256}]
        )["taskDefinition"]["taskDefinitionArn"]
        ecs.create_service(cluster="prod", serviceName=service, taskDefinition=td, desiredCount=1)
    targets = [
        {"name": "web", "repository": "web", "tags": "glob:*", "cluster": "prod", "services": ["web"]},
        {"name": "api", "repository": "my-repository-name", "tags": "glob:*", "cluster": "prod", "services": ["api"]},
    ]
    use_slack(stack, slack)
    config = {"version": 1, "deploy": {"targets": targets}, "notifications": {"slack": {"mode": "webhook"}}}
    function_env("DeployerFunction", write_config(config))
    from functions.deployer import app

    calls = AwsCalls().install()
    dlq = stack.queue_url("DeployDLQ")
    figures = report("deployer")
    pool = samples(
        "ecr-image-push.json",
        "ecr-image-push-semver.json",
        "ecr-image-push-failure.json",
        "ecr-image-push-oci-untagged-child.json",
        "ecr-image-delete.json",
        "deploy-notification-retry.json",
    )

    def check(case: Case) -> None:
        event = sqs_event(case.body)
        event["Records"][0]["attributes"]["MessageGroupId"] = "notify" if case.family == "notify" else "ecr-push"
        outcome = sqs_outcome(app, event, calls, dlq, slack)
        judge(case, outcome, figures)
        if "ecs:UpdateService" in outcome.mutations:  # what was deployed was an ECR tag and digest
            detail = json.loads(case.body)["detail"]
            assert ECR_TAG.match(detail["image-tag"]) and ECR_DIGEST.match(detail["image-digest"]), str(case)

    run(examples, cases(pool), check, request)


# --------------------------------------------------------------------------------------------- watcher


@pytest.mark.parametrize("examples", EXAMPLES)
def test_watcher_decides_bad_input_at_the_edge(examples, stack, write_config, function_env, slack, report, request):
    use_slack(stack, slack)
    config = {"version": 1, "notifications": {"slack": {"mode": "webhook"}}}
    function_env("WatcherFunction", write_config(config))
    from functions.watcher import app

    calls = AwsCalls().install()
    dlq = stack.queue_url("WatchDLQ")
    figures = report("watcher")
    pool = samples(*sorted(p.name for p in EVENTS.glob("ecs-*.json")), "watch-close-window.json", "watch-restart.json")

    def check(case: Case) -> None:
        judge(case, sqs_outcome(app, sqs_event(case.body), calls, dlq, slack), figures)

    run(examples, cases(pool), check, request)


# ----------------------------------------------------------------------------------------------- batch


@pytest.mark.parametrize("examples", EXAMPLES)
def test_batch_decides_bad_input_at_the_edge(
    examples, stack, function_env, write_config, lambda_context, report, request
):
    with tasks_stay_running():
        world = BatchWorld(stack, function_env, write_config, lambda_context)
        world.declare(world.job(name="nightly-report", max_runtime_minutes=30))
        from functions.batch import app

        calls = AwsCalls().install()
        dlq = stack.queue_url("BatchDLQ")
        figures = report("batch")
        pool = samples(*sorted(p.name for p in EVENTS.glob("schedule-*.json")), "ecs-task-stopped-job.json")

        def check(case: Case) -> None:
            judge(case, sqs_outcome(app, sqs_event(case.body), calls, dlq, None), figures)

        run(examples, cases(pool), check, request)


# --------------------------------------------------------------------------------------- schedule sync


@pytest.mark.parametrize("examples", EXAMPLES)
def test_schedule_sync_decides_bad_input_at_the_edge(examples, stack, function_env, write_config, report, request):
    function_env("ScheduleSyncFunction", write_config({"version": 1}))
    from functions.schedule_sync.app import lambda_handler

    calls = AwsCalls().install()
    figures = report("schedule sync")
    cfn_request = samples("cloudformation-schedules-update.json")["cloudformation-schedules-update.json"]
    with CfnReceiver() as cfn:
        cfn_request["ResponseURL"] = cfn.url
        cfn_request["ResourceProperties"].update(
            ScheduleGroup=stack.physical["ScheduleGroup"],
            TargetArn=stack.arns["BatchQueue"],
            RoleArn=stack.arns["SchedulerRole"],
            DeadLetterArn=stack.arns["BatchDLQ"],
        )

        def check(case: Case) -> None:
            try:  # the Lambda service delivers only what decodes as JSON
                event = json.loads(case.body)
            except (ValueError, RecursionError):
                figures.not_deliverable += 1
                return
            calls.clear()
            answered = len(cfn.received)
            raised: BaseException | None = None
            try:
                lambda_handler(event, LambdaContext())
            except Exception as exc:  # counted and reported by judge
                raised = exc
            answers = cfn.received[answered:]
            refused = bool(answers) and answers[-1]["Status"] == "FAILED" and not calls.calls
            silent = not answers and not calls.calls  # no usable ResponseURL: logged and dropped
            outcome = Outcome(raised, raised is not None, [], refused or silent, calls.mutations())
            if must_refuse(case):
                assert all(a["Status"] == "FAILED" for a in answers), f"{case}: CloudFormation heard SUCCESS"
            judge(case, outcome, figures)

        run(examples, cases({"cloudformation-schedules-update.json": cfn_request}), check, request)
