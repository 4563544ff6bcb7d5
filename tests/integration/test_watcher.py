"""The watcher end to end: the real handler, SQS records as Lambda gets them, the stack in moto, the loopback Slack.

Delayed follow-ups (restart backoff, crash-loop window close) are real SQS messages with DelaySeconds in moto's
watch queue. The clock stands still during a test (time-machine, whose clock moto's SQS reads too): a delayed
message becomes receivable only when `Inbox.after(seconds)` has moved the clock past its delay.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest

from dockhand.watch.delayed import MAX_DELAY
from dockhand_local.lambda_context import LambdaContext
from dockhand_local.slack import LoopbackSlack
from tests.support.events import EVENTS, load_event, sqs_event, with_detail
from tests.support.fargate import launchable_network, register_fargate_family
from tests.support.metrics import metric_total

ACCOUNT = "123456789012"
REGION = "us-east-1"
TOKEN = "xoxb-1111-2222-SECRETTOKENVALUE"


# -------------------------------------------------------------------------------------------- helpers


class Inbox:
    """What left the system: SNS notifications (through a subscribed queue) and the watcher's delayed messages."""

    def __init__(self, stack: Any, clock: Any) -> None:
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.stack = stack
        self.clock = clock
        self.url = self.sqs.create_queue(QueueName="sns-inbox")["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        boto3.client("sns", region_name=REGION).subscribe(TopicArn=stack.topic_arn, Protocol="sqs", Endpoint=arn)
        self.seen: list[dict[str, Any]] = []

    def sns(self) -> list[dict[str, Any]]:
        """Every SNS notification so far (cumulative)."""
        while True:
            msgs = self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10).get("Messages", [])
            if not msgs:
                return self.seen
            for m in msgs:
                env = json.loads(m["Body"])
                self.seen.append(
                    {
                        "subject": env.get("Subject"),
                        "body": json.loads(env["Message"]),
                        "attributes": {k: v["Value"] for k, v in env.get("MessageAttributes", {}).items()},
                    }
                )
                self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=m["ReceiptHandle"])

    def waiting(self) -> int:
        """How many messages wait in the watch queue for their delay to pass (SQS's own count)."""
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.stack.queue_url("WatchQueue"), AttributeNames=["ApproximateNumberOfMessagesDelayed"]
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessagesDelayed"])

    def after(self, seconds: float) -> list[dict[str, Any]]:
        """Move the clock `seconds` on and take every message that is due by then off the watch queue."""
        self.clock.shift(seconds)
        url = self.stack.queue_url("WatchQueue")
        out = []
        while True:
            msgs = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if not msgs:
                return out
            for m in msgs:
                out.append(json.loads(m["Body"]))
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])

    def drain(self) -> list[dict[str, Any]]:
        """Let every delay pass (SQS delays at most 15 minutes) and take every message off the watch queue."""
        return self.after(MAX_DELAY)


def restarts_in(bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [b for b in bodies if b.get("action") == "restart"]


@pytest.fixture
def slack() -> Iterator[LoopbackSlack]:
    server = LoopbackSlack().start()
    yield server
    server.stop()


@pytest.fixture
def inbox(stack: Any, time_machine: Any) -> Inbox:
    time_machine.move_to(datetime.now(UTC), tick=False)
    return Inbox(stack, time_machine)


@pytest.fixture
def watcher(
    stack: Any, write_config: Callable[..., Path], function_env: Callable[..., Any], slack: LoopbackSlack
) -> Callable[..., Callable[..., dict[str, Any]]]:
    """Configure Slack (bot or webhook) + SNS and the watch section; return handler(*bodies)."""

    def setup(mode: str = "bot", **sections: Any) -> Callable[..., dict[str, Any]]:
        from aws_lambda_powertools.utilities import parameters

        parameters.clear_caches()
        creds = {"bot_token": TOKEN, "api_url": slack.api_url} if mode == "bot" else {"webhook_url": slack.webhook_url}
        boto3.client("secretsmanager", region_name=REGION).put_secret_value(
            SecretId=stack.physical["SlackSecret"], SecretString=json.dumps(creds)
        )
        cfg = {"version": 1, "notifications": {"slack": {"mode": mode, "channel": "C0ALERTS"}}, **sections}
        function_env("WatcherFunction", write_config(cfg))
        from functions.watcher import app

        app._TASKDEFS.clear()  # a fresh Lambda container
        return lambda *bodies: app.lambda_handler(sqs_event(*bodies), LambdaContext())

    return setup


def failed_ids(response: dict[str, Any]) -> list[str]:
    return [f["itemIdentifier"] for f in response.get("batchItemFailures", [])]


def task_event(name: str = "ecs-task-stopped-service-crash", **detail: Any) -> dict[str, Any]:
    event = with_detail(load_event(name), **detail)
    if "taskArn" in detail:
        event["resources"] = [detail["taskArn"]]
    return event


def crash(n: int, **detail: Any) -> dict[str, Any]:
    arn = f"arn:aws:ecs:eu-central-1:111111111111:task/test/{n:032x}"
    return task_event(taskArn=arn, **detail)


# -------------------------------------------------------------------------------------- every sample


def _samples() -> list[Path]:
    return sorted(EVENTS.glob("ecs-*.json"))


# sample → (Slack messages, SNS kind or None): what one delivery of the sample makes with default settings
EXPECTED: dict[str, tuple[int, str | None, str | None]] = {
    "ecs-deployment-completed.json": (1, "deploy_completed", "completed"),
    "ecs-deployment-failed.json": (1, "deploy_rolled_back", "rolled back"),
    "ecs-deployment-in-progress.json": (0, None, None),
    # an unknown deployment's rollback: its FAILED event carries the alert (a known one is reported, see below)
    "ecs-deployment-rollback.json": (0, None, None),
    "ecs-service-action-placement-failure.json": (1, "service_event", "cannot place tasks"),
    "ecs-service-action-start-impaired.json": (1, "service_event", "tasks keep failing to start"),
    "ecs-service-action-steady-state.json": (0, None, None),
    "ecs-task-spot-termination-notice.json": (0, None, None),  # a notice while still RUNNING, not a stop
    "ecs-task-standalone-deprovisioning.json": (0, None, None),  # DEPROVISIONING: the STOPPED event follows
    "ecs-task-stopped-job.json": (0, None, None),  # the batch wing's job run
    "ecs-task-stopped-service-crash.json": (1, "task_failed", "application exited with an error (exit 2)"),
    "ecs-task-stopped-app-exit-standalone.json": (1, "task_failed", "application exited with an error (exit 1)"),
    "ecs-task-stopped-no-started-by.json": (1, "task_failed", "application exited with an error (exit 1)"),
    "ecs-task-stopped-oom.json": (1, "task_failed", "out of memory (exit 137)"),
    "ecs-task-stopped-image-pull.json": (1, "task_failed", "image pull failed"),
    "ecs-task-stopped-resource-init.json": (1, "task_failed", "start-up failed"),
    "ecs-task-stopped-capacity.json": (1, "task_failed", "no capacity to place the task"),
    "ecs-task-stopped-elb-health.json": (1, "task_failed", "failed load-balancer health checks"),
    "ecs-task-stopped-container-health.json": (1, "task_failed", "failed container health checks"),
    "ecs-task-stopped-spot-interruption.json": (1, "task_failed", "Spot interruption"),
    "ecs-task-stopped-maintenance.json": (1, "task_failed", "infrastructure maintenance"),
    "ecs-task-stopped-unknown.json": (1, "task_failed", "unknown cause"),
    "ecs-task-stopped-scale-in.json": (0, None, None),
    "ecs-task-stopped-user.json": (0, None, None),
    "ecs-task-stopped-clean-exit.json": (0, None, None),
}


@pytest.mark.parametrize("sample", _samples(), ids=lambda p: p.stem)
def test_every_sample_event_is_handled_by_its_cause(sample: Path, watcher, slack, inbox, capsys) -> None:
    assert sample.name in EXPECTED, f"add {sample.name} to EXPECTED"
    slack_count, kind, title_part = EXPECTED[sample.name]
    handler = watcher()
    # Given one sample event as EventBridge delivers it to the watch queue
    body = json.loads(sample.read_text())
    # When the watcher handles it
    response = handler(body)
    # Then nothing fails, and exactly the expected notification goes out on both channels
    assert failed_ids(response) == []
    assert len(slack.messages) == slack_count
    notes = inbox.sns()
    assert [n["attributes"]["kind"] for n in notes] == ([kind] if kind else [])
    if title_part:
        assert title_part in notes[0]["subject"]
        assert title_part in slack.messages[0]["text"]
    assert "Essential container in task exited" not in json.dumps(slack.messages)


def test_a_failure_carries_cause_container_image_times_and_links(watcher, slack, inbox, stack) -> None:
    # Given the crashed task's task definition is registered with awslogs settings
    ecs = boto3.client("ecs", region_name=REGION)
    td = ecs.register_task_definition(
        family="example-api-v1",
        containerDefinitions=[
            {
                "name": "app",
                "image": "example-api:189b5e97",
                "memory": 512,
                "logConfiguration": {
                    "logDriver": "awslogs",
                    "options": {
                        "awslogs-group": "/ecs/example-api",
                        "awslogs-stream-prefix": "ecs",
                        "awslogs-region": "eu-central-1",
                    },
                },
            },
            {"name": "envoy", "image": "envoy", "memory": 128, "essential": False},
        ],
    )["taskDefinition"]["taskDefinitionArn"]
    handler = watcher()
    # When the crash of a task on that revision arrives
    handler(task_event(taskDefinitionArn=td))
    # Then the notification names everything a person needs, with a link to the container's log stream
    sns = inbox.sns()[0]
    assert sns["attributes"] == {
        "kind": "task_failed",
        "severity": "error",
        "service": "example-api-v1",
        "cluster": "test",
    }
    context = sns["body"]["metadata"]["additionalContext"]
    assert context["Container"] == "app"
    assert context["Exit code"] == "2"
    assert context["Task definition"] == "example-api-v1:1"
    assert context["Tag"] == "189b5e97"
    assert context["Digest"].startswith("sha256:b7ea69f8")
    assert context["Run time"] == "2m 37s"
    assert context["Started"].startswith("2020-03-16T15:34:27")
    text = json.dumps(slack.messages[0]["blocks"])
    assert ("log-group/$252Fecs$252Fexample-api/log-events/ecs$252Fapp$252Fa6eaf0150a4248dAA1bcbd688121014e") in text
    assert "eu-central-1.console.aws.amazon.com/cloudwatch" in text
    assert "/ecs/v2/clusters/test/tasks/a6eaf0150a4248dAA1bcbd688121014e" in text
    # And the console link is in the Region the task stopped in (the event's: eu-central-1), not the watcher's
    assert "https://eu-central-1.console.aws.amazon.com/ecs/v2/clusters/test/tasks/" in text


def test_duplicates_and_older_versions_are_dropped(watcher, slack, inbox, capsys) -> None:
    handler = watcher()
    # Given a crash at version 7 was handled
    handler(task_event(version=7))
    # When the same event, and an older version of it, arrive again
    handler(task_event(version=7), task_event(version=6))
    # Then one notification only, and both drops are counted
    assert len(slack.messages) == 1
    assert len(inbox.sns()) == 1
    out = capsys.readouterr().out
    assert metric_total(out, "TaskEventDropped", reason="duplicate") == 1
    assert metric_total(out, "TaskEventDropped", reason="stale") == 1


def test_a_dropped_event_costs_no_ecs_read(stack, slack, inbox, write_config, function_env) -> None:
    from dockhand.watch.dispatch import handle_message

    w = _clocked_watch(stack, slack, write_config, function_env, lambda: 1_800_000_000.0)
    # Given a crash at version 7 was handled
    handle_message(task_event(version=7), w)
    # When the same event and an older version arrive at a fresh container (no cached task definition)
    w.taskdef_cache.clear()
    w.ecs.calls.clear()
    outcomes = [handle_message(task_event(version=7), w), handle_message(task_event(version=6), w)]
    # Then both are dropped without a single ECS call
    assert outcomes == ["dropped:duplicate", "dropped:stale"]
    assert sum(w.ecs.calls.values()) == 0


def test_scale_in_alerts_when_the_file_asks(watcher, slack, inbox) -> None:
    # Given alert_on_scale_in / When a deploy scales a task in / Then it is reported (as info)
    handler = watcher(watch={"alert_on_scale_in": True})
    handler(load_event("ecs-task-stopped-scale-in"))
    assert [n["attributes"]["severity"] for n in inbox.sns()] == ["info"]


# --------------------------------------------------------------------------------- channels failing


def test_slack_down_while_sns_delivers_then_the_retry_lands_once(watcher, slack, inbox, capsys) -> None:
    handler = watcher()
    event = task_event()
    # Given Slack answers 500
    slack.fail_next(1, status=500)
    # When the crash arrives
    response = handler(event)
    # Then SNS delivered, Slack did not, and the record is failed so SQS redelivers it
    assert failed_ids(response) == ["m-0"]
    assert len(inbox.sns()) == 1
    assert slack.messages == []
    # When SQS redelivers it (Slack is back)
    response = handler(event)
    # Then Slack gets it once and SNS is not sent twice
    assert failed_ids(response) == []
    assert len(slack.messages) == 1
    assert len(inbox.sns()) == 1
    # And a third delivery (a duplicate) sends nothing
    handler(event)
    assert len(slack.messages) == 1
    assert metric_total(capsys.readouterr().out, "NotificationFailed", channel="slack") == 1


@pytest.mark.parametrize("mode", ["bot", "webhook"])
def test_the_webhook_url_and_token_never_reach_the_logs(mode, watcher, slack, inbox, capsys, caplog) -> None:
    import logging

    handler = watcher(mode=mode)
    caplog.set_level(logging.DEBUG)  # everything from here on: the handler runs, not the test's own setup
    caplog.clear()
    capsys.readouterr()
    # Given Slack fails first, then works
    slack.fail_next(1, status=500)
    # When a crash, a service event and a deploy outcome are handled (with failures and retries)
    for body in (
        task_event(),
        load_event("ecs-service-action-placement-failure"),
        load_event("ecs-deployment-completed"),
    ):
        handler(body)
        handler(body)
    # Then the messages went out, and neither the URL nor the token appear in any output
    assert len(slack.messages) == 3
    captured = capsys.readouterr()
    everything = captured.out + captured.err + caplog.text + json.dumps(inbox.sns())
    for secret in (TOKEN, slack.webhook_url, "T000/B000/loopback"):
        assert secret not in everything


def test_a_missing_slack_credential_fails_the_record_but_sns_delivers(watcher, slack, inbox, stack) -> None:
    handler = watcher()
    # Given the secret holds neither a webhook URL nor a token
    from aws_lambda_powertools.utilities import parameters

    boto3.client("secretsmanager", region_name=REGION).put_secret_value(
        SecretId=stack.physical["SlackSecret"], SecretString="{}"
    )
    parameters.clear_caches()
    # When a crash arrives / Then SNS delivers and the record fails (SQS retries, then the DLQ)
    assert failed_ids(handler(task_event())) == ["m-0"]
    assert len(inbox.sns()) == 1


def test_routes_send_by_kind_and_severity(watcher, slack, inbox) -> None:
    # Given errors go to Slack only, everything else to SNS only
    handler = watcher(
        notifications={
            "slack": {"mode": "bot", "channel": "C0ALERTS"},
            "routes": [{"severities": ["error"], "channels": ["slack"]}, {"channels": ["sns"]}],
        }
    )
    # When a crash (error) and a Spot interruption (warning) arrive
    handler(task_event(), load_event("ecs-task-stopped-spot-interruption"))
    # Then each went to its own channel
    assert [m["text"].split(" ", 1)[1].split(":")[0] for m in slack.messages] == ["example-api-v1"]
    assert [n["attributes"]["severity"] for n in inbox.sns()] == ["warning"]


def test_bad_input_is_parked_not_retried(watcher, stack) -> None:
    handler = watcher()
    # When a message that is no event at all arrives
    response = handler({"hello": "world"})
    # Then it is not retried, and it waits in the DLQ with its reason
    assert failed_ids(response) == []
    sqs = boto3.client("sqs", region_name=REGION)
    msgs = sqs.receive_message(QueueUrl=stack.queue_url("WatchDLQ"), MessageAttributeNames=["All"])["Messages"]
    assert json.loads(msgs[0]["Body"]) == {"hello": "world"}


# ------------------------------------------------------------------------------------------ crash loops


def test_a_crash_loop_alerts_once_and_schedules_the_window_close(watcher, slack, inbox, capsys) -> None:
    import time

    handler = watcher(watch={"crash_loop_window_minutes": 10})
    # Given a service crashes 25 times in a row, now
    now = datetime.fromtimestamp(time.time(), UTC).isoformat()
    for start in range(0, 25, 10):
        crashes = [crash(i, stoppedAt=now) for i in range(start, min(start + 10, 25))]
        assert failed_ids(handler(*crashes)) == []
    # Then one alert only, and a window-close message waits in the watch queue for the window's ten minutes and
    # the minute a window stays open for stops still on their way
    assert len(slack.messages) == 1
    assert inbox.waiting() == 1
    assert inbox.after(659) == []
    [close] = inbox.after(2)
    assert close["action"] == "close_window"
    assert close["closes_at"] - close["opened_at"] == 600
    # And the history has every stop
    from dockhand import deps
    from dockhand.state.stops import StopHistory

    assert len(StopHistory(deps.table()).recent("test", "service:example-api-v1", limit=100)) == 25
    assert metric_total(capsys.readouterr().out, "CrashLoopSuppressed") == 24


def _clocked_watch(
    stack: Any,
    slack: LoopbackSlack,
    write_config: Callable[..., Path],
    function_env: Callable[..., Any],
    clock: Callable[[], float],
) -> Any:
    """The watch service with the given clock, Slack in bot mode, 10-minute crash-loop windows."""
    from aws_lambda_powertools.utilities import parameters

    from dockhand import deps
    from dockhand.aws.ecs import Ecs
    from dockhand.watch.context import Watch
    from dockhand.watch.delayed import DelayedMessages

    parameters.clear_caches()
    boto3.client("secretsmanager", region_name=REGION).put_secret_value(
        SecretId=stack.physical["SlackSecret"], SecretString=json.dumps({"bot_token": TOKEN, "api_url": slack.api_url})
    )
    function_env(
        "WatcherFunction",
        write_config(
            {"notifications": {"slack": {"mode": "bot", "channel": "C1"}}, "watch": {"crash_loop_window_minutes": 10}}
        ),
    )
    return Watch(
        config=deps.config(),
        ecs=Ecs(deps.client("ecs")),
        table=deps.table(),
        notifier=deps.notifier(),
        delayed=DelayedMessages(deps.client("sqs"), stack.queue_url("WatchQueue")),
        region=REGION,
        clock=clock,
    )


def test_storm_of_500_stops_makes_at_most_three_notifications_adding_up_to_500(
    stack, slack, inbox, write_config, function_env
) -> None:
    """500 stops over ten minutes, delivered live, then the window closes."""
    import time

    from dockhand.watch.dispatch import handle_message

    w = _clocked_watch(stack, slack, write_config, function_env, time.time)
    # Given 500 stops of one service over ten minutes
    for i in range(500):
        handle_message(stop_at(i, time.time()), w)
        inbox.clock.shift(1.19)
    # When the window-close message comes due
    deliver_due(inbox, w)
    # Then at most three notifications per channel, and their counts add up to 500
    assert len(slack.messages) <= 3
    notes = inbox.sns()
    assert len(notes) <= 3
    first, summary = notes
    assert first["attributes"]["kind"] == "task_failed"
    assert summary["attributes"]["kind"] == "crash_loop"
    assert 1 + int(summary["body"]["metadata"]["additionalContext"]["More failures"]) == 500
    assert "500 stops in 9m 53s" in summary["body"]["content"]["description"]
    # And in Slack bot mode the summary sits in the thread of the first alert
    assert slack.messages[1]["thread_ts"] == slack.messages[0]["ts"]


def test_a_window_replaced_before_its_close_message_still_gets_its_summary(
    stack, slack, inbox, write_config, function_env
) -> None:
    import time

    from dockhand.watch.dispatch import handle_message

    w = _clocked_watch(stack, slack, write_config, function_env, time.time)
    # Given three stops inside one window (one alert, two counted)
    for i in range(3):
        handle_message(stop_at(i, time.time()), w)
        inbox.clock.shift(60)
    # And a fourth stop after the window's end, before its close message arrived: it opens a new window
    inbox.clock.shift(600)
    handle_message(stop_at(3, time.time()), w)
    # When both windows' close messages come due
    deliver_due(inbox, w)
    # Then the first window's summary counts its two failures; the second window, quiet, sends none
    kinds = [n["attributes"]["kind"] for n in inbox.sns()]
    assert kinds == ["task_failed", "task_failed", "crash_loop"]
    summary = inbox.sns()[2]["body"]
    assert summary["metadata"]["additionalContext"]["More failures"] == "2"


def stop_at(n: int, stopped: float, **detail: Any) -> dict[str, Any]:
    """Stop `n` of the sample service, stopped at epoch `stopped` (as ECS reports it in `stoppedAt`)."""
    when = datetime.fromtimestamp(stopped, UTC).isoformat()
    return crash(n, version=3, stoppedAt=when, **detail)


def deliver_due(inbox: Inbox, w: Any) -> None:
    """Let time pass until the watcher's own delayed messages stop coming, handling each as it comes due."""
    from dockhand.watch.dispatch import handle_message

    while bodies := inbox.drain():
        for body in bodies:
            handle_message(body, w)


def test_a_backlog_of_500_stops_within_ten_minutes_is_one_alert_and_one_summary_however_late_it_arrives(
    stack, slack, inbox, write_config, function_env
) -> None:
    import random
    import time

    from dockhand.watch.dispatch import handle_message

    w = _clocked_watch(stack, slack, write_config, function_env, time.time)
    # Given 500 stops of one service within ten minutes of their stoppedAt, an hour ago
    first = time.time() - 3600
    stops = [stop_at(i, first + i * 1.19) for i in range(500)]
    random.Random(7).shuffle(stops)
    # When a slow consumer delivers them over twenty minutes, in no particular order (its own delayed
    # messages come due on the way)
    for i, body in enumerate(stops):
        handle_message(body, w)
        inbox.clock.shift(2.4)
        if i % 10 == 9:
            for due in inbox.after(0):
                handle_message(due, w)
    deliver_due(inbox, w)
    # Then one alert and one summary, adding up to 500, over the span the stops really covered
    notes = inbox.sns()
    assert [n["attributes"]["kind"] for n in notes] == ["task_failed", "crash_loop"]
    summary = notes[1]["body"]
    assert summary["metadata"]["additionalContext"]["More failures"] == "499"
    assert "500 stops in 9m 53s" in summary["content"]["description"]


def test_stops_that_arrive_after_their_window_closed_are_counted_in_a_follow_up(
    stack, slack, inbox, write_config, function_env
) -> None:
    import time

    from dockhand.watch.dispatch import handle_message

    w = _clocked_watch(stack, slack, write_config, function_env, time.time)
    # Given three stops in two minutes, delivered live, and their window's summary sent
    start = time.time()
    for i in range(3):
        handle_message(stop_at(i, start + 60 * i), w)
        inbox.clock.shift(60)
    deliver_due(inbox, w)
    assert [n["attributes"]["kind"] for n in inbox.sns()] == ["task_failed", "crash_loop"]
    # When two more stops of those minutes arrive an hour later (redriven from the DLQ), one of them twice
    inbox.clock.shift(3600)
    late = [stop_at(3, start + 30), stop_at(4, start + 90)]
    for body in (*late, late[0]):
        handle_message(body, w)
    deliver_due(inbox, w)
    # Then no new alert: one follow-up counts the two, once each, in the first alert's thread
    notes = inbox.sns()
    assert [n["attributes"]["kind"] for n in notes] == ["task_failed", "crash_loop", "crash_loop"]
    assert notes[2]["body"]["metadata"]["additionalContext"]["More failures"] == "2"
    assert slack.messages[2]["thread_ts"] == slack.messages[0]["ts"]


def test_an_alert_and_its_summary_name_the_same_subject_cause_and_real_span(
    stack, slack, inbox, write_config, function_env
) -> None:
    import time

    from dockhand.watch.dispatch import handle_message

    w = _clocked_watch(stack, slack, write_config, function_env, time.time)
    # Given service `web` runs task-definition family `web-td`, and three of its tasks run out of memory in 2 minutes
    start = time.time()
    oom = [{"name": "app", "exitCode": 137, "reason": "OutOfMemoryError: Container killed due to memory usage"}]
    for i in range(3):
        handle_message(
            stop_at(
                i,
                start + 60 * i,
                group="service:web",
                taskDefinitionArn="arn:aws:ecs:eu-central-1:111111111111:task-definition/web-td:4",
                containers=oom,
            ),
            w,
        )
    # When the window closes
    deliver_due(inbox, w)
    # Then the alert and the summary name the same group, family and cause, in words
    alert, summary = (n["body"] for n in inbox.sns())
    assert alert["content"]["title"].split(" ", 1)[1].startswith("web (web-td): out of memory")
    assert summary["content"]["title"].split(" ", 1)[1].startswith("web (web-td): 2 more failure(s)")
    for note in (alert, summary):
        context = note["metadata"]["additionalContext"]
        assert (context["Group"], context["Family"], context["Cause"]) == ("service:web", "web-td", "out of memory")
        assert "oom" not in json.dumps([note["content"], context])  # the words, never the code
    # And the summary states the span the stops covered, not the window's length
    assert "in 2m" in summary["content"]["title"]
    assert "10 min" not in json.dumps(summary)


# ------------------------------------------------------------------------------------------- deployments


def _record_deployment(deployment_id: str, **over: Any) -> None:
    from dockhand import deps
    from dockhand.state.deployments import DeploymentRecord, Deployments

    base = {
        "deployment_id": deployment_id,
        "service_arn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/prod/web",
        "cluster": "prod",
        "service": "web",
        "repository": "web",
        "tag": "2.1.0",
        "digest": "sha256:" + "a" * 64,
        "image": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/web@sha256:" + "a" * 64,
        "task_definition_arn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/web:6",
        "previous_task_definition_arn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/web:5",
        "target": "web",
    }
    Deployments(deps.table()).record(DeploymentRecord(**(base | over)))


def deploy_event(name: str, deployment_id: str) -> dict[str, Any]:
    event = with_detail(load_event(name), deploymentId=deployment_id)
    event["resources"] = [f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/prod/web"]
    event["region"] = REGION
    return event


def test_completed_deploy_updates_the_slack_message_and_prunes_old_revisions(watcher, slack, inbox, capsys) -> None:
    ecs = boto3.client("ecs", region_name=REGION)
    ecs.create_cluster(clusterName="prod")
    arns = [
        ecs.register_task_definition(
            family="web", containerDefinitions=[{"name": "web", "image": f"web:{i}", "memory": 256}]
        )["taskDefinition"]["taskDefinitionArn"]
        for i in range(1, 7)
    ]
    # Given revision 2 still runs a service, and keep_revisions is 2
    ecs.create_service(cluster="prod", serviceName="legacy", taskDefinition=arns[1], desiredCount=1)
    handler = watcher(deploy={"keep_revisions": 2})
    _record_deployment("ecs-svc/777")
    # And the deployer posted its start message under the deployment's update key
    from dockhand import deps
    from dockhand.notify.model import Notification

    deps.notifier().notify(
        Notification(kind="deploy_started", title="Deploying web:2.1.0 to web", update_key="deploy/ecs-svc/777")
    )
    # When the deployment completes (delivered twice)
    handler(deploy_event("ecs-deployment-completed", "ecs-svc/777"))
    handler(deploy_event("ecs-deployment-completed", "ecs-svc/777"))
    # Then the start message is updated in place, once
    assert [m["kind"] for m in slack.messages] == ["post", "update"]
    assert slack.messages[1]["ts"] == slack.messages[0]["ts"]
    assert "completed" in slack.messages[1]["text"]
    assert [n["attributes"]["kind"] for n in inbox.sns()] == ["deploy_started", "deploy_completed"]
    # And old revisions are gone except the newest two and the one in use
    active = ecs.list_task_definitions(familyPrefix="web", status="ACTIVE")["taskDefinitionArns"]
    assert [a.rsplit(":", 1)[-1] for a in active] == ["2", "5", "6"]
    assert metric_total(capsys.readouterr().out, "RevisionsDeregistered") == 3


def test_rollback_holds_the_digest_and_the_next_push_of_it_is_skipped(
    stack, watcher, function_env, write_config, slack, inbox, capsys
) -> None:
    ecs = boto3.client("ecs", region_name=REGION)
    registry = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
    ecs.create_cluster(clusterName="prod")
    td = ecs.register_task_definition(
        family="web", containerDefinitions=[{"name": "web", "image": f"{registry}/web:2.0.0", "memory": 256}]
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(cluster="prod", serviceName="web", taskDefinition=td, desiredCount=1)
    target = {"name": "web", "repository": "web", "tags": "semver:^2.0", "cluster": "prod", "services": ["web"]}
    digest = "sha256:" + "d" * 64

    def push(event_id: str, tag: str) -> dict[str, Any]:
        from functions.deployer import app as deployer

        function_env(
            "DeployerFunction",
            write_config({"deploy": {"targets": [target]}, "notifications": {"sns": True}}, name="deploy.yaml"),
        )
        event = with_detail(
            load_event("ecr-image-push"), **{"repository-name": "web", "image-tag": tag, "image-digest": digest}
        )
        event.update(id=event_id, region=REGION, account=ACCOUNT)
        body = sqs_event(event)
        body["Records"][0]["attributes"]["MessageGroupId"] = "ecr-push"
        return deployer.lambda_handler(body, LambdaContext())

    # Given the deployer deployed web:2.1.0 (its deployment record is keyed by the PRIMARY deployment id)
    push("push-1", "2.1.0")
    deployment_id = ecs.describe_services(cluster="prod", services=["web"])["services"][0]["deployments"][0]["id"]
    # When the circuit breaker rolls that deployment back
    handler = watcher(deploy={"targets": [target]})
    handler(deploy_event("ecs-deployment-rollback", deployment_id))
    # Then the digest is held and the failure is reported as a rollback
    from dockhand import deps
    from dockhand.state.deployments import Deployments, Holds

    hold = Holds(deps.table()).get("web", digest)
    assert hold is not None and hold.deployment_id == deployment_id
    assert Deployments(deps.table()).get(deployment_id).status == "ROLLED_BACK"
    kinds = [n["attributes"]["kind"] for n in inbox.sns()]
    assert kinds[-1] == "deploy_rolled_back"
    assert inbox.seen[-1]["attributes"]["severity"] == "error"
    # When the same digest is pushed again under another tag
    revisions_before = len(ecs.list_task_definitions(familyPrefix="web")["taskDefinitionArns"])
    push("push-2", "2.1.1")
    # Then the deployer skips it: no new revision, and a skip notification
    assert len(ecs.list_task_definitions(familyPrefix="web")["taskDefinitionArns"]) == revisions_before
    assert metric_total(capsys.readouterr().out, "DeploySkipped", reason="held") == 1
    assert inbox.sns()[-1]["attributes"]["kind"] == "deploy_skipped"


def test_an_unknown_deployment_is_still_reported(watcher, slack, inbox) -> None:
    handler = watcher()
    # When a deployment Dockhand did not start fails / Then it is reported, without push details
    handler(deploy_event("ecs-deployment-failed", "ecs-svc/not-ours"))
    [note] = inbox.sns()
    assert note["attributes"]["kind"] == "deploy_rolled_back"
    assert "Digest" not in note["body"]["metadata"]["additionalContext"]


def test_a_rollback_is_one_alert_not_two(watcher, slack, inbox) -> None:
    handler = watcher()
    # Given a deployment that fails with a circuit-breaker rollback: ECS sends FAILED for it, then IN_PROGRESS
    # for the rollback deployment it starts (a deployment id nobody recorded)
    handler(deploy_event("ecs-deployment-failed", "ecs-svc/failing"))
    handler(deploy_event("ecs-deployment-rollback", "ecs-svc/rollback-of-failing"))
    # Then the failure is reported once
    notes = inbox.sns()
    assert [n["attributes"]["kind"] for n in notes] == ["deploy_rolled_back"]


# ---------------------------------------------------------------------------------------------- restarts


@pytest.fixture
def fargate(stack: Any) -> dict[str, str]:
    """A cluster, a Fargate task family `nightly`, and a VPC moto can launch awsvpc tasks into."""
    subnet, sg = launchable_network(boto3.client("ec2", region_name=REGION), "nightly", cidr="10.9")
    ecs = boto3.client("ecs", region_name=REGION)
    cluster = ecs.create_cluster(clusterName="batch")["cluster"]["clusterArn"]
    td = register_fargate_family(ecs, "nightly", container="job", image="nightly:1")
    return {"subnet": subnet, "sg": sg, "cluster": cluster, "td": td}


def stopped(
    task: dict[str, Any] | None,
    fargate: dict[str, str],
    exit_code: int = 1,
    version: int = 5,
    containers: list[dict[str, Any]] | None = None,
    **over: Any,
) -> dict[str, Any]:
    """The STOPPED event of a task (moto's task, or the original one launched outside Dockhand)."""
    task = task or {"taskArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/batch/{'e' * 32}", "startedBy": "cron"}
    return task_event(
        "ecs-task-stopped-app-exit-standalone",
        taskArn=task["taskArn"],
        clusterArn=fargate["cluster"],
        taskDefinitionArn=fargate["td"],
        group="family:nightly",
        startedBy=task.get("startedBy"),
        launchType="FARGATE",
        version=version,
        overrides={"containerOverrides": [{"name": "job", "environment": [{"name": "DAY", "value": "mon"}]}]},
        containers=containers or [{"name": "job", "exitCode": exit_code, "lastStatus": "STOPPED"}],
        **over,
    )


def _tasks(ecs: Any, cluster: str) -> list[dict[str, Any]]:
    arns = ecs.list_tasks(cluster=cluster)["taskArns"]
    return ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"] if arns else []


def test_restarts_follow_the_policy_and_stop_at_the_limit(watcher, fargate, slack, inbox, capsys) -> None:
    ecs = boto3.client("ecs", region_name=REGION)
    network = {"subnets": [fargate["subnet"]], "security_groups": [fargate["sg"]]}
    handler = watcher(
        watch={"restart": {"families": ["nightly"], "max_attempts": 2, "backoff_seconds": 30, "network": network}}
    )
    # Given an opted-in standalone task failed
    handler(stopped(None, fargate))
    # Then a restart is scheduled with backoff, not launched at once
    assert _tasks(ecs, "batch") == []
    assert restarts_in(inbox.after(29)) == []
    # When the backoff (30 s) passes
    [msg] = restarts_in(inbox.after(1))
    assert msg["attempt"] == 1
    handler(msg)
    # Then attempt 1 runs with the stopped task's parameters
    [first] = _tasks(ecs, "batch")
    assert first["startedBy"].startswith("dockhand-restart/1/")
    assert first["group"] == "family:nightly"
    assert first["overrides"]["containerOverrides"][0]["environment"] == [{"name": "DAY", "value": "mon"}]
    # When attempt 1 fails too, and its backoff (60 s) passes
    handler(stopped(first, fargate))
    assert restarts_in(inbox.after(59)) == []
    [msg] = restarts_in(inbox.after(1))
    assert msg["attempt"] == 2
    handler(msg)
    second = next(t for t in _tasks(ecs, "batch") if t["startedBy"].startswith("dockhand-restart/2/"))
    # When attempt 2 fails as well
    handler(stopped(second, fargate))
    # Then no third launch: the limit holds and the alert says so
    assert restarts_in(inbox.drain()) == []
    assert len(_tasks(ecs, "batch")) == 2
    assert metric_total(capsys.readouterr().out, "RestartGaveUp") == 1
    assert any("gave up after 2 restart(s)" in json.dumps(n["body"]) for n in inbox.sns())


def test_a_duplicate_stop_or_restart_message_launches_nothing_twice(watcher, fargate, inbox) -> None:
    ecs = boto3.client("ecs", region_name=REGION)
    network = {"subnets": [fargate["subnet"]], "security_groups": [fargate["sg"]]}
    handler = watcher(watch={"restart": {"families": ["nightly"], "backoff_seconds": 10, "network": network}})
    event = stopped(None, fargate)
    # Given the same stop event delivered three times (two in one batch)
    handler(event, event)
    handler(event)
    # Then one restart is scheduled
    restarts = restarts_in(inbox.drain())
    assert len(restarts) == 1
    # When its delayed message is delivered twice
    handler(restarts[0], restarts[0])
    handler(restarts[0])
    # Then one task was launched (moto ignores clientToken: the claim in DynamoDB is what holds)
    assert len(_tasks(ecs, "batch")) == 1


def test_an_image_pull_failure_is_never_restarted(watcher, fargate, inbox) -> None:
    network = {"subnets": [fargate["subnet"]], "security_groups": [fargate["sg"]]}
    handler = watcher(watch={"restart": {"families": ["nightly"], "backoff_seconds": 0, "network": network}})
    # When an opted-in task fails to pull its image
    handler(
        stopped(
            None,
            fargate,
            stopCode="TaskFailedToStart",
            stoppedReason="CannotPullContainerError: not found",
            containers=[{"name": "job"}],
        )
    )
    # Then nothing is launched, and the alert says why
    assert _tasks(boto3.client("ecs", region_name=REGION), "batch") == []
    assert "image_pull is never retried" in json.dumps(inbox.sns()[0]["body"])


def test_service_tasks_are_never_restarted(watcher, fargate, inbox) -> None:
    handler = watcher(watch={"restart": {"families": ["example-api-v1"], "backoff_seconds": 0}})
    handler(task_event())
    assert restarts_in(inbox.drain()) == []
    assert _tasks(boto3.client("ecs", region_name=REGION), "batch") == []


# ---------------------------------------------------------------------------------------------------- CLI


def test_history_and_holds_commands(watcher, stack, slack) -> None:
    from typer.testing import CliRunner

    from dockhand import deps
    from dockhand.state.deployments import HoldRecord, Holds
    from dockhand_cli.main import app

    handler = watcher()
    # Given two stops of a service and one hold
    handler(task_event(), load_event("ecs-task-stopped-oom"))
    Holds(deps.table()).hold(HoldRecord(repository="web", digest="sha256:" + "f" * 64, reason="rolled back"))
    runner = CliRunner()
    # When history is asked / Then both stops are listed with their causes
    out = runner.invoke(app, ["history", "example-api-v1", "--cluster", "test"], terminal_width=200)
    assert out.exit_code == 0, out.output
    assert "oom" in out.output and "app_exit" in out.output
    # When history is asked without a cluster / Then one scan of every cluster finds the same stops
    anywhere = runner.invoke(app, ["history", "example-api-v1"], terminal_width=200)
    assert anywhere.exit_code == 0, anywhere.output
    assert "oom" in anywhere.output and "app_exit" in anywhere.output
    # When holds are listed and released / Then the hold goes away
    assert "sha256:fff" in runner.invoke(app, ["holds", "list"], terminal_width=200).output
    released = runner.invoke(app, ["holds", "release", "web", "sha256:" + "f" * 64])
    assert released.exit_code == 0
    assert Holds(deps.table()).list() == []
    assert runner.invoke(app, ["holds", "release", "web", "sha256:" + "f" * 64]).exit_code == 1


def test_slack_credentials_from_an_ssm_securestring(watcher, slack, inbox) -> None:
    # Given the webhook URL lives in an SSM SecureString the file names
    boto3.client("ssm", region_name=REGION).put_parameter(
        Name="/dockhand/slack", Type="SecureString", Value=json.dumps({"webhook_url": slack.webhook_url})
    )
    handler = watcher(
        notifications={"slack": {"mode": "webhook", "secret_source": "ssm", "secret_name": "/dockhand/slack"}}
    )
    # When a crash arrives / Then it reaches Slack through the webhook read from SSM
    assert failed_ids(handler(task_event())) == []
    assert [m["kind"] for m in slack.messages] == ["webhook"]


def test_a_slack_outage_that_outlasts_the_retries_lands_in_the_dlq(watcher, slack, inbox, stack) -> None:
    handler = watcher()
    sqs = boto3.client("sqs", region_name=REGION)
    queue = stack.queue_url("WatchQueue")
    sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(task_event()))
    # Given Slack stays down longer than the queue's maxReceiveCount (5)
    slack.fail_next(100, status=503)
    # When the event source delivers the message again and again (it deletes it only on success)
    for _ in range(6):
        for m in sqs.receive_message(QueueUrl=queue, VisibilityTimeout=0, AttributeNames=["All"]).get("Messages", []):
            if not failed_ids(handler(json.loads(m["Body"]))):
                sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
    # Then SNS delivered once, and the message waits in the DLQ: nothing was lost silently
    assert len(inbox.sns()) == 1
    dead = sqs.receive_message(QueueUrl=stack.queue_url("WatchDLQ"))["Messages"]
    assert json.loads(dead[0]["Body"])["detail"]["taskArn"].endswith("a6eaf0150a4248dAA1bcbd688121014e")


def test_a_throttled_restart_is_retried_and_launches_once(watcher, fargate, inbox) -> None:
    from botocore.exceptions import ClientError

    from dockhand import deps

    network = {"subnets": [fargate["subnet"]], "security_groups": [fargate["sg"]]}
    handler = watcher(watch={"restart": {"families": ["nightly"], "backoff_seconds": 0, "network": network}})
    left = {"RunTask": 1}

    def throttle(model: Any, **_: Any) -> None:
        if left.get(model.name, 0) > 0:
            left[model.name] -= 1
            raise ClientError(
                {
                    "Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"},
                    "ResponseMetadata": {"HTTPStatusCode": 400},
                },
                model.name,
            )

    deps.client("ecs").meta.events.register("before-call.ecs.RunTask", throttle)
    event = stopped(None, fargate)
    # Given RunTask throttles once / When the stop arrives / Then the record fails (SQS retries it)
    assert failed_ids(handler(event)) == ["m-0"]
    assert _tasks(boto3.client("ecs", region_name=REGION), "batch") == []
    # When SQS redelivers it, twice / Then exactly one task is launched
    assert failed_ids(handler(event)) == []
    handler(event)
    assert len(_tasks(boto3.client("ecs", region_name=REGION), "batch")) == 1
