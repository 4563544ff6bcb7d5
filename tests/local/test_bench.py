"""`make bench` end to end, reduced (`--quick`, without the `sam build` the build tests already make): the table is
the only output, and bench.json holds every figure with counts that add up. No time is asserted."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from dockhand_local.bench.flows import FAN_OUT

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow]


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict]:
    work = tmp_path_factory.mktemp("bench")
    # Given a reduced bench / When it runs as `make bench` runs it
    options = ["--quick", "--skip", "artifacts", "--json", str(work / "bench.json"), "--workdir", str(work / "scratch")]
    proc = subprocess.run(
        [sys.executable, "-m", "dockhand_local.bench", *options],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return proc.stdout, json.loads((work / "bench.json").read_text())


def test_the_table_is_all_it_prints_and_matches_the_json(bench: tuple[str, dict]) -> None:
    out, report = bench
    lines = out.splitlines()
    # Then the first line is the table's header, every line is a table row, one per figure row in the JSON
    assert lines[0] == "| figure | measure | value | goal | met |"
    assert all(line.startswith("|") for line in lines)
    assert len(lines) == 2 + len(report["rows"])
    assert {row["figure"][0] for row in report["rows"]} == set("123457")
    assert set(report["figures"]) == {"cold", "warm", "fanout", "storm", "local", "cost"}


def test_cold_start_has_every_function_against_one_baseline(bench: tuple[str, dict]) -> None:
    cold = bench[1]["figures"]["cold"]
    assert set(cold["functions"]) == {"deployer", "watcher", "batch", "schedule_sync"}
    for figures in cold["functions"].values():
        assert figures["ready_ms"] > figures["import_ms"] > 0
        # each ratio is the median of the rounds' own ratios to the baseline measured beside it
        assert len(figures["ready_ratios"]) == cold["rounds"]
        assert figures["ready_ratio"] == pytest.approx(statistics.median(figures["ready_ratios"]))
        assert 0 < figures["rss_mb"] < 1024
    # And each has its floor, the same library modules and clients without Dockhand's code, on the same baseline
    for figures in cold["functions"].values():
        assert figures["floor_ms"] > 0 and figures["floor_modules"] > 0
        assert figures["floor_ratio"] == pytest.approx(statistics.median(figures["floor_ratios"]))
    # And the baseline was also measured on the layer's boto3 (its trimmed botocore data), each function beside it
    assert cold["baseline_ms"] > 0 and cold["baseline_on_layer_ms"] > 0
    assert all(figures["ready_ratio_to_layer_baseline"] > 0 for figures in cold["functions"].values())
    # And every function's top import costs name packages and where they came from
    assert all(costs and costs[0]["package"] and costs[0]["via"] for costs in cold["top_import_costs"].values())


def test_a_first_record_makes_one_client_for_each_service_it_calls_and_no_other(bench: tuple[str, dict]) -> None:
    for function, figures in bench[1]["figures"]["cold"]["functions"].items():
        made, called = figures["clients_made"], figures["services_called"]
        assert called, function
        assert sorted(made) == sorted(called), function


def test_warm_flows_make_the_calls_their_work_needs(bench: tuple[str, dict]) -> None:
    warm = bench[1]["figures"]["warm"]
    assert set(warm) == {
        "push",
        "stop",
        "crash-storm stop",
        "deployment in progress",
        "deployment completed",
        "job launch",
        "job completion",
    }
    # one service: one registration, one update; a job launch is one RunTask; an alerting stop one publish
    assert warm["push"]["aws_calls"]["ecs:RegisterTaskDefinition"] == 1
    assert warm["push"]["aws_calls"]["ecs:UpdateService"] == 1
    assert warm["job launch"]["aws_calls"]["ecs:RunTask"] == 1
    assert warm["stop"]["aws_calls"]["sns:Publish"] == 1
    assert "sns:Publish" not in warm["crash-storm stop"]["aws_calls"]  # inside an open window: counted, not sent
    # what each call billed: one unit for a single-item call, each key for a BatchGetItem
    push = warm["push"]
    assert push["billed_units"]["dynamodb:PutItem"] == push["aws_calls"]["dynamodb:PutItem"]
    assert push["billed_units"]["dynamodb:BatchGetItem"] >= push["aws_calls"]["dynamodb:BatchGetItem"]


def test_fan_out_registers_once_per_family_and_updates_every_service(bench: tuple[str, dict]) -> None:
    fan = bench[1]["figures"]["fanout"]
    assert fan["ecs_calls"]["RegisterTaskDefinition"] == FAN_OUT.families
    assert fan["ecs_calls"]["UpdateService"] == FAN_OUT.services
    assert fan["naive"]["calls"] == 4 * FAN_OUT.services
    # the projection never beats the buckets' own floor: 100 updates at 50 burst + 5/s
    assert fan["projected_s"] >= 10.0 - 1e-6
    assert fan["naive"]["projected_s"] > fan["projected_s"]
    assert set(fan["dynamodb_per_push"]) == {"1", "12", "100"}
    # the ledger's BatchGetItem bills a read unit per key: a push to 100 services reads at least 100 units
    assert fan["dynamodb_per_push"]["100"]["read_units"] >= FAN_OUT.services > fan["dynamodb_per_push"]["100"]["reads"]


def test_the_storm_and_the_local_push_add_up(bench: tuple[str, dict]) -> None:
    figures = bench[1]["figures"]
    storm = figures["storm"]
    assert storm["stops"] == 50
    # batches of at most 10, plus the window's close message
    assert 5 < storm["invocations"] <= 50 + 1
    assert storm["slack_messages"] >= 1 and storm["sns_publishes"] >= 1
    local = figures["local"]
    for run in (local["cold"], local["warm"]):
        assert run["total_ms"] == pytest.approx(run["routing_ms"] + run["queue_wait_ms"] + run["handler_ms"])
    cost = figures["cost"]
    assert 0 < cost["per_deploy_usd"] < cost["codepipeline_v2_per_deploy_usd"][1]
