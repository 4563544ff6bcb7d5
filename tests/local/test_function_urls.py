"""The approver's function URL, served locally: the stack's `ApproverUrl` output answers HTTP as Lambda's function URL
would, the loopback Slack's signed press is taken there, and a forged one changes nothing."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockhand.state.promotions import Promotions
from dockhand.state.table import Table
from dockhand_local.images import image_manifest
from dockhand_local.runtime import Runtime, RuntimeOptions
from dockhand_local.sample import PROD_ACCOUNT, PROD_CLUSTER, PROD_REGION, REPOSITORY, SERVICE
from tests.support.local import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("local-runtime")]

CONFIG = Path(__file__).resolve().parents[2] / "config" / "dockhand.yaml"


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    """config/dockhand.yaml's world (staging demo/web; production prod/web behind an approval, in the production
    account and eu-west-1), web:1.1.0 pushed and baked in staging: production waits for U0RELEASE."""
    here = tmp_path_factory.mktemp("urls")
    options = RuntimeOptions(
        config_path=CONFIG, state_dir=here / "state", speed=60.0, deploy_delay=0.3, handler_log=here / "handlers.log"
    )
    with Runtime(options) as rt:
        rt.create_sample()
        rt.client("ecr").put_image(
            repositoryName=REPOSITORY, imageManifest=image_manifest("web:1.1.0"), imageTag="1.1.0"
        )
        wait_until(lambda: not rt.busy() and _promotion(rt) is not None, "staging deployed and baking", timeout=60)
        rt.clock.advance(600)
        wait_until(lambda: (_promotion(rt) or {}).get("status") == "awaiting_approval", "the approval gate", 60)
        wait_until(lambda: _request_posted(rt), "the approval request in Slack", 60)
        yield rt


def _promotion(rt: Runtime) -> dict[str, str] | None:
    assert rt.stack is not None
    table = Table(rt._session.resource("dynamodb", endpoint_url=rt.endpoint), rt.stack.table_name)
    found = Promotions(table).into(REPOSITORY, "production")
    return {"status": found[0].status, "digest": found[0].digest} if found else None


def _request_posted(rt: Runtime) -> bool:
    assert rt.slack is not None
    try:
        return bool(rt.slack.newest_with_action("dockhand_approve"))
    except LookupError:
        return False


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read().decode()


def _production_image(rt: Runtime) -> str:
    ecs = rt.client("ecs", PROD_ACCOUNT, PROD_REGION)
    service = ecs.describe_services(cluster=PROD_CLUSTER, services=[SERVICE])["services"][0]
    task_definition = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]
    return str(task_definition["containerDefinitions"][0]["image"])


def test_the_approver_url_output_is_served_on_loopback(runtime: Runtime) -> None:
    # Given the stack's outputs, as the CLI reads them from CloudFormation
    cloudformation = runtime.client("cloudformation")
    outputs = cloudformation.describe_stacks(StackName=runtime.options.stack_name)["Stacks"][0]["Outputs"]
    url = next(o["OutputValue"] for o in outputs if o["OutputKey"] == "ApproverUrl")

    # When anyone posts there without Slack's signature
    status, body = _post(url, b"payload=%7B%7D", {"Content-Type": "application/x-www-form-urlencoded"})

    # Then the approver function answered (not the runtime): 401, and it says why
    assert url.startswith("http://127.0.0.1:") and url.endswith("/fn/ApproverFunction/")
    assert status == 401, body
    assert "signature" in json.loads(body)["text"].lower()


def test_a_press_signed_with_another_secret_changes_nothing(runtime: Runtime) -> None:
    # Given the newest approval request in the local Slack, and a press signed with a secret that is not the app's
    assert runtime.slack is not None and runtime.stack is not None
    channel, ts, _key = runtime.slack.newest_with_action("dockhand_approve")
    headers, body = runtime.slack.interaction(channel, ts, "dockhand_approve", "U0RELEASE", "not-the-secret")

    # When it reaches the approver's URL
    status, _answer = _post(runtime.stack.outputs["ApproverUrl"], body.encode(), headers)
    runtime.wait_idle(timeout=10)

    # Then it is refused and production still waits
    assert status == 401
    assert (_promotion(runtime) or {}).get("status") == "awaiting_approval"
    assert _production_image(runtime).endswith(":1.0.0")


def test_the_local_slack_presses_approve_and_production_runs_the_digest(runtime: Runtime) -> None:
    # Given production waiting for U0RELEASE's approval of the digest staging baked
    digest = (_promotion(runtime) or {})["digest"]

    # When the local Slack presses Approve (as the stage's first Slack approver, signed with the app's secret)
    status, answer = runtime.press("approve")
    wait_until(lambda: _production_image(runtime).endswith(digest), "production deployed", timeout=60)

    # Then the press was taken and production runs the same digest, the request message lost its buttons
    assert status == 200 and "approved" in answer.lower(), answer
    assert _production_image(runtime).endswith(f"@{digest}")
    with pytest.raises(LookupError, match="nothing is waiting"):
        runtime.slack.newest_with_action("dockhand_approve")
