"""Nothing fails silently: every queue and function of template.yaml has its alarms, and every alarm and dashboard
widget watches a metric that is really emitted — AWS's by its documented names and dimensions, Dockhand's as the
real handlers print it (the EMF blobs of every audit flow, read from stdout)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from dockhand_local.stack import load_template
from tests.audit.flows import FLOWS, FlowRun

pytestmark = [pytest.mark.xdist_group("permission-audit"), pytest.mark.slow]

# The metrics AWS publishes for these namespaces and the dimension each alarm here uses (from the SQS and Lambda
# developer guides' metric lists).
AWS_METRICS = {
    "AWS/SQS": (
        {"QueueName"},
        {
            "ApproximateAgeOfOldestMessage",
            "ApproximateNumberOfMessagesDelayed",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesVisible",
            "NumberOfEmptyReceives",
            "NumberOfMessagesDeleted",
            "NumberOfMessagesReceived",
            "NumberOfMessagesSent",
            "SentMessageSize",
        },
    ),
    "AWS/Lambda": (
        {"FunctionName"},
        {"Invocations", "Errors", "Throttles", "Duration", "ConcurrentExecutions", "DeadLetterErrors"},
    ),
}
DOCKHAND_FAILURES = {"DeployFailed", "JobFailed", "JobTimedOut", "JobLaunchFailed", "NotificationFailed"}
INSIGHTS = re.compile(r"SELECT SUM\((\w+)\) FROM SCHEMA\((\w+), ([\w, ]+)\)")
SEARCH = re.compile(r"""SEARCH\('\{(\w+),([\w,]+)\} MetricName="(\w+)"'""")

TEMPLATE = load_template()
RESOURCES: dict[str, dict[str, Any]] = TEMPLATE["Resources"]
NAMESPACE = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"]


def of_type(kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in RESOURCES.items() if v["Type"] == kind}


ALARMS = of_type("AWS::CloudWatch::Alarm")


def _logical(value: Any) -> str:
    """!GetAtt X.QueueName / !Ref X → X."""
    if "Fn::GetAtt" in value:
        return str(value["Fn::GetAtt"][0])
    return str(value["Ref"])


def alarmed(namespace: str, metric: str) -> set[str]:
    """The resources (logical ids) an AWS-metric alarm watches."""
    return {
        _logical(d["Value"])
        for a in ALARMS.values()
        if a["Properties"].get("Namespace") == namespace and a["Properties"].get("MetricName") == metric
        for d in a["Properties"]["Dimensions"]
    }


def dead_letter_queues() -> set[str]:
    queues = of_type("AWS::SQS::Queue").values()
    targets = [
        q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"] for q in queues if "RedrivePolicy" in q["Properties"]
    ]
    targets += [
        t["DeadLetterConfig"]["Arn"]
        for r in of_type("AWS::Events::Rule").values()
        for t in r["Properties"]["Targets"]
        if "DeadLetterConfig" in t
    ]
    return {_logical(t) for t in targets if isinstance(t, dict)}


@pytest.fixture
def emitted(all_runs: Callable[[str], list[FlowRun]]) -> set[tuple[str, str, frozenset[str]]]:
    """Every (namespace, metric, dimension names) the handlers printed across all audit flows."""
    return {m for function in FLOWS for run in all_runs(function) for m in run.metrics}


def test_every_dead_letter_queue_alarms_on_its_first_message() -> None:
    # Given the queues messages die in: every redrive target and every rule target's DLQ
    dlqs = dead_letter_queues()
    assert {"DeployDLQ", "DeployRuleDLQ", "WatchDLQ", "BatchDLQ"} <= dlqs
    # Then each has an alarm on its visible messages, firing on the first
    assert dlqs <= alarmed("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    for alarm in ALARMS.values():
        p = alarm["Properties"]
        if p.get("MetricName") == "ApproximateNumberOfMessagesVisible":
            assert (p["Threshold"], p["ComparisonOperator"]) == (0, "GreaterThanThreshold")


def test_every_queue_where_work_waits_alarms_on_the_age_of_its_oldest_message() -> None:
    # Given the work queues (every queue that is not a DLQ)
    work = set(of_type("AWS::SQS::Queue")) - dead_letter_queues()
    assert work == {"DeployQueue", "WatchQueue", "BatchQueue"}
    # Then each alarms when its oldest message waits too long (a stuck FIFO group shows here first)
    assert work <= alarmed("AWS/SQS", "ApproximateAgeOfOldestMessage")


def test_every_function_alarms_on_errors_and_throttles() -> None:
    functions = set(of_type("AWS::Serverless::Function"))
    assert functions <= alarmed("AWS/Lambda", "Errors")
    assert functions <= alarmed("AWS/Lambda", "Throttles")


def test_dockhands_own_failures_alarm_and_every_alarm_tells_the_alarm_topic() -> None:
    own = {
        m.group(1)
        for a in ALARMS.values()
        for q in a["Properties"].get("Metrics", [])
        if (m := INSIGHTS.match(q.get("Expression", "")))
    }
    assert own >= DOCKHAND_FAILURES
    assert all(a["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}] for a in ALARMS.values())


def test_every_alarm_watches_a_metric_that_is_really_emitted(emitted: set[tuple[str, str, frozenset[str]]]) -> None:
    for name, alarm in ALARMS.items():
        p = alarm["Properties"]
        if "Namespace" in p:
            # an AWS metric, by its documented name and dimension, of a resource of this template
            dimensions, metrics = AWS_METRICS[p["Namespace"]]
            assert p["MetricName"] in metrics, name
            assert {d["Name"] for d in p["Dimensions"]} == dimensions, name
            assert all(_logical(d["Value"]) in RESOURCES for d in p["Dimensions"]), name
            continue
        for query in p["Metrics"]:
            # Dockhand's: the metric with exactly the dimensions a handler printed it with
            match = INSIGHTS.fullmatch(query["Expression"])
            assert match, f"{name}: {query['Expression']}"
            metric, namespace, dims = match.group(1), match.group(2), frozenset(match.group(3).split(", "))
            assert namespace == NAMESPACE, name
            assert (namespace, metric, dims) in emitted, f"{name}: no handler emits {metric} with {sorted(dims)}"


def dashboard_metrics() -> list[Any]:
    """The dashboard's metric entries, with ${X.Attr} / ${X} left as the logical ids they name."""
    (dashboard,) = of_type("AWS::CloudWatch::Dashboard").values()
    body = re.sub(r"\$\{([\w:]+)(?:\.\w+)?\}", r"\1", dashboard["Properties"]["DashboardBody"]["Fn::Sub"])
    return [m for w in json.loads(body)["widgets"] for m in w["properties"]["metrics"]]


def test_the_dashboard_shows_each_part_of_dockhand() -> None:
    (dashboard,) = of_type("AWS::CloudWatch::Dashboard").values()
    body = json.loads(re.sub(r"\$\{[^}]+\}", "x", dashboard["Properties"]["DashboardBody"]["Fn::Sub"]))
    titles = [w["properties"]["title"] for w in body["widgets"]]
    for part in ("Deploys by outcome", "Stops by cause", "Job runs by outcome", "Notifications by channel and result"):
        assert part in titles
    shown = {(m[1], m[3]) for m in dashboard_metrics() if isinstance(m, list)}
    queues, functions = of_type("AWS::SQS::Queue"), of_type("AWS::Serverless::Function")
    assert {("ApproximateNumberOfMessagesVisible", q) for q in queues} <= shown
    assert {("Errors", f) for f in functions} | {("Duration", f) for f in functions} <= shown


def test_every_dashboard_metric_is_really_emitted(emitted: set[tuple[str, str, frozenset[str]]]) -> None:
    for entry in dashboard_metrics():
        if isinstance(entry, dict):
            match = SEARCH.match(entry["expression"])
            assert match, entry
            namespace, dims, metric = match.group(1), frozenset(match.group(2).split(",")), match.group(3)
            assert namespace == NAMESPACE
            assert (namespace, metric, dims) in emitted, f"no handler emits {metric} with {sorted(dims)}"
        else:
            namespace, metric, dimension, resource = entry
            dimensions, metrics = AWS_METRICS[namespace]
            assert metric in metrics and {dimension} == dimensions and resource in RESOURCES, entry
