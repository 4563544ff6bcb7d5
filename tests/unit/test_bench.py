"""The bench's pure parts: the ECS token-bucket replay, the cost model, the table, the poller's batching, the
-X importtime reading and the unreached-file check. No timing is asserted: only arithmetic on given numbers."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockhand_local.bench.buckets import ECS_BUCKETS, Bucket, Call, bucket_for, replay
from dockhand_local.bench.coldstart import importers, parse_importtime, top_costs
from dockhand_local.bench.costs import (
    PRICES,
    Usage,
    codepipeline_per_deploy,
    cost,
    cost_figure,
    request_units,
    snapstart,
    usage_from_calls,
)
from dockhand_local.bench.flows import batches
from dockhand_local.bench.report import Row, counts, render, with_table


# ------------------------------------------------------------------------------------------- token buckets
def test_the_published_buckets_cover_every_call_a_deploy_makes() -> None:
    # Given the calls a push makes / Then each has its bucket, with the quotas the issue names
    expected = {
        "RegisterTaskDefinition": (20, 1),
        "UpdateService": (50, 5),
        "DescribeServices": (100, 20),
        "DescribeTaskDefinition": (50, 20),
    }
    for action, (burst, refill) in expected.items():
        bucket = bucket_for(action)
        assert bucket is not None and (bucket.burst, bucket.refill) == (burst, refill)


def test_calls_within_the_burst_wait_for_nothing() -> None:
    # When 50 UpdateService calls are made at once (the bucket holds 50)
    result = replay([Call("UpdateService")] * 50)
    # Then none waits
    assert (result.seconds, result.waited, result.throttled) == (0.0, 0.0, 0)


def test_100_updates_take_ten_seconds_the_floor_the_issue_names() -> None:
    # When 100 UpdateService calls are made back to back: 50 from the burst, then 5 a second
    result = replay([Call("UpdateService")] * 100)
    # Then the 100th goes out at 10 s and the last 50 each found the bucket empty
    assert result.seconds == pytest.approx(10.0)
    assert result.throttled == 50


def test_a_naive_deployer_registering_per_service_pays_eighty_seconds() -> None:
    # Given describe, describe, register, update for each of 100 services
    actions = ("DescribeServices", "DescribeTaskDefinition", "RegisterTaskDefinition", "UpdateService")
    calls = [Call(a) for _ in range(100) for a in actions]
    # When replayed / Then registration (20 burst, 1/s) sets the pace: 80 calls wait a second each
    result = replay(calls)
    assert result.seconds == pytest.approx(80.0)
    assert result.throttled == 80


def test_time_the_caller_spends_between_calls_refills_the_bucket() -> None:
    # Given a bucket of 1 token refilling 1 a second, and a second call made 2 s after the first
    bucket = Bucket("b", 1, 1, frozenset({"X"}))
    # When replayed / Then the second call finds a token (the gap refilled it) and nothing waits
    result = replay([Call("X"), Call("X", gap=2.0)], [bucket])
    assert (result.seconds, result.throttled) == (2.0, 0)
    # And a call made at once would have waited a whole second
    assert replay([Call("X"), Call("X")], [bucket]).seconds == pytest.approx(1.0)


def test_calls_outside_the_buckets_are_not_throttled() -> None:
    assert bucket_for("PutItem") is None
    assert replay([Call("PutItem")] * 1000).seconds == 0.0
    assert all(b.burst >= 1 and b.refill > 0 for b in ECS_BUCKETS)


# ------------------------------------------------------------------------------------------- cost model
def test_cost_is_usage_times_the_listed_prices() -> None:
    # Given one invocation of 1 s at 1024 MB, 4 SQS requests (1 FIFO), 2 reads, 3 writes, 1 publish
    usage = Usage(
        invocations=1,
        lambda_ms=1000,
        memory_mb=1024,
        sqs_standard=3,
        sqs_fifo=1,
        dynamodb_reads=2,
        dynamodb_writes=3,
        sns_publishes=1,
    )
    # When priced
    result = cost(usage)
    # Then each part is its count times its price, and the total is their sum
    p = {name: price.usd for name, price in PRICES.items()}
    assert result.parts["lambda duration"] == pytest.approx(p["lambda_arm64_gb_s"])
    assert result.parts["sqs"] == pytest.approx(3 * p["sqs_standard_request"] + p["sqs_fifo_request"])
    assert result.parts["dynamodb"] == pytest.approx(
        2 * p["dynamodb_read_request_unit"] + 3 * p["dynamodb_write_request_unit"]
    )
    assert result.total == pytest.approx(sum(result.parts.values()))


def test_every_price_names_its_source_and_date() -> None:
    for name, price in PRICES.items():
        assert price.source.startswith("https://aws.amazon.com/"), name
        assert price.as_of[:4].isdigit(), name


def test_calls_become_billable_usage() -> None:
    # Given the calls a handler made, counted by service:action
    calls = {
        "dynamodb:GetItem": 3,
        "dynamodb:PutItem": 2,
        "dynamodb:UpdateItem": 1,
        "sns:Publish": 1,
        "sqs:SendMessage": 2,
    }
    # When turned into usage / Then reads, writes, publishes and SQS requests are counted
    usage = usage_from_calls(calls, invocations=1, lambda_ms=10, fifo_queue_calls=1)
    assert (usage.dynamodb_reads, usage.dynamodb_writes, usage.sns_publishes) == (3, 3, 1)
    assert (usage.sqs_standard, usage.sqs_fifo) == (1, 1)
    # And usages add up, and scale
    assert (usage + usage).dynamodb_writes == 6
    assert usage.scaled(1000).invocations == 1000


def test_a_dynamodb_batch_bills_each_item_and_a_transaction_each_item_twice() -> None:
    # Given a push's reads: one GetItem and one BatchGetItem of 12 keys, and a transaction writing 3 items
    calls = {"dynamodb:GetItem": 1, "dynamodb:BatchGetItem": 1, "dynamodb:TransactWriteItems": 1}
    units = {
        "dynamodb:GetItem": request_units("GetItem", 1),
        "dynamodb:BatchGetItem": request_units("BatchGetItem", 12),
        "dynamodb:TransactWriteItems": request_units("TransactWriteItems", 3),
    }
    # When priced as usage
    usage = usage_from_calls(calls, invocations=1, lambda_ms=1, units=units)
    # Then the batch is 12 read units, not one, and the transaction 6 write units
    assert (usage.dynamodb_reads, usage.dynamodb_writes) == (13, 6)
    # And a call whose billed units were not recorded bills one unit
    assert usage_from_calls(calls, invocations=1, lambda_ms=1).dynamodb_reads == 2


def test_snapstart_costs_its_cached_snapshots_by_the_second_and_each_restore_by_its_memory() -> None:
    # When what SnapStart would add for 4 functions of 256 MB is priced
    month, restore = snapstart(4, memory_mb=256)
    # Then a month is 4 quarter-GB snapshots cached for 30 days, and a restore is a quarter GB restored
    p = {name: price.usd for name, price in PRICES.items()}
    assert month == pytest.approx(4 * 0.25 * 30 * 86400 * p["lambda_snapstart_cache_gb_s"])
    assert restore == pytest.approx(0.25 * p["lambda_snapstart_restore_gb"])


def test_codepipeline_costs_six_to_eleven_action_minutes() -> None:
    low, high = codepipeline_per_deploy()
    assert (low, high) == pytest.approx((0.012, 0.022))


def test_the_cost_figure_adds_a_push_and_its_two_deployment_events() -> None:
    # Given measured flows: a push and deployment events of known calls and time
    flow = {"wall_ms": 100.0, "aws_calls": {"dynamodb:PutItem": 1}}
    warm = {"push": flow, "deployment in progress": flow, "deployment completed": flow, "stop": flow}
    storm = {"stops": 10, "invocations": 2, "lambda_ms": 50.0, "aws_calls": {"dynamodb:UpdateItem": 10}}
    # When the cost figure is built
    rows, data = cost_figure(warm, storm)
    # Then a deploy is three invocations of 100 ms, three writes and nine SQS requests (three of them FIFO)
    p = {name: price.usd for name, price in PRICES.items()}
    expected = (
        3 * p["lambda_request"]
        + 0.3 * 0.25 * p["lambda_arm64_gb_s"]
        + 3 * p["dynamodb_write_request_unit"]
        + 3 * p["sqs_fifo_request"]
        + 6 * p["sqs_standard_request"]
    )
    assert data["per_deploy_usd"] == pytest.approx(expected)
    # And it is judged against CodePipeline's lower bound
    assert rows[0][3] is True
    assert data["per_1000_storm_stops_usd"] > 0


# ------------------------------------------------------------------------------------------- the table
def test_the_table_is_markdown_with_each_figure_named_once() -> None:
    rows = [
        Row("1 cold start", "deployer", "1.5x", "≤ 1.2x", False),
        Row("1 cold start", "watcher", "1.1x", "≤ 1.2x", True),
        Row("3 fan-out", "calls", "a | b"),
    ]
    text = render(rows)
    lines = text.splitlines()
    assert lines[0] == "| figure | measure | value | goal | met |"
    assert lines[2] == "| 1 cold start | deployer | 1.5x | ≤ 1.2x | NOT MET |"
    assert lines[3] == "|  | watcher | 1.1x | ≤ 1.2x | met |"
    assert lines[4] == "| 3 fan-out | calls | a \\| b |  |  |"


def test_calls_are_grouped_by_service_busiest_first() -> None:
    text = counts({"ecs:UpdateService": 2, "dynamodb:GetItem": 3, "dynamodb:PutItem": 1})
    assert text == "dynamodb 4 (GetItem 3, PutItem 1); ecs 2 (UpdateService 2)"
    assert counts({}) == "none"


def test_the_readme_keeps_the_latest_table_between_its_markers() -> None:
    # Given a README with an older table between the markers
    readme = "# Title\n<!-- bench-table -->\nold table\n<!-- /bench-table -->\n## Next\n"
    # When the latest table goes in / Then it replaces the old one, and the rest stays
    out = with_table(readme, "| new |\n", "Latest run: today.")
    assert out == "# Title\n<!-- bench-table -->\nLatest run: today.\n\n| new |\n<!-- /bench-table -->\n## Next\n"
    assert with_table(out, "| newer |\n", "Latest run: later.").count("bench-table") == 2


# ------------------------------------------------------------------------------------------- the poller
def test_stops_are_batched_by_the_five_second_window_and_ten_records() -> None:
    # Given stops 1.2 s apart / Then each batch spans under 5 s from its first record
    assert batches([i * 1.2 for i in range(10)]) == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]
    # And a burst of 25 at once goes in batches of 10
    assert [len(b) for b in batches([0.0] * 25)] == [10, 10, 5]


# ------------------------------------------------------------------------------------------- import time
IMPORTTIME = """\
import time: self [us] | cumulative | imported package
import time:       100 |        100 |   pydantic.main
import time:       300 |        400 | pydantic
import time:        50 |        450 | dockhand.config
--- bench: handler imported
import time:       700 |        700 | botocore
--- bench: importers {"pydantic": "opt/python/dockhand/config.py:16", "botocore": "task/deployer/app.py:11"}
"""


def test_importtime_is_summed_by_package_with_who_imported_it() -> None:
    # When the report of python -X importtime is read
    lines = parse_importtime(IMPORTTIME)
    costs = top_costs(lines, importers(IMPORTTIME))
    # Then packages rank by their modules' self time, each with its phase and the line of ours that imported it
    assert [(c["package"], c["ms"], c["phase"], c["via"]) for c in costs] == [
        ("botocore", 0.7, "first record", "task/deployer/app.py:11"),
        ("pydantic", 0.4, "import", "opt/python/dockhand/config.py:16"),
        ("dockhand", 0.05, "import", "-"),
    ]
    assert lines[0].level == 1 and lines[1].level == 0


# ------------------------------------------------------------------------------------------- artifacts
def test_shipped_files_no_import_reaches_are_listed(tmp_path: Path) -> None:
    from dockhand_local.bench.artifacts import size, unreached

    # Given a shipped folder with two modules, one of them reached
    (tmp_path / "used.py").write_text("x = 1\n")
    (tmp_path / "spare.py").write_text("y = 2\n")
    (tmp_path / "data.json").write_text("{}")
    shipped = sorted(tmp_path.rglob("*"))
    # When checked / Then the unreached module is listed, data files are not
    assert unreached(shipped, {str((tmp_path / "used.py").resolve())}) == [tmp_path / "spare.py"]
    # And the folder's size counts every file
    measured = size(tmp_path)
    assert measured["files"] == 3 and measured["bytes"] == 14 and measured["zipped"] > 0
