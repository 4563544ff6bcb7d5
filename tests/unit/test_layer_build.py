"""The layer build's own rules, on folders made here: what it keeps of botocore, what it removes, what it refuses.
(tests/build runs the whole build through `sam build`.)"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import pytest

from dockhand.aws import clients
from dockhand_local.bench.lambda_site import build_layer


def model(service: str) -> dict:
    """A service model as botocore ships it, its prose included; one structure has a member called documentation."""
    return {
        "version": "2.0",
        "metadata": {"endpointPrefix": f"api.{service}", "protocol": "json"},
        "documentation": "<p>What the service does.</p>",
        "clientContextParams": {"Flag": {"type": "boolean", "documentation": "botocore reads this one"}},
        "operations": {
            "Describe": {"name": "Describe", "input": {"shape": "In"}, "documentation": "<p>Describes.</p>"}
        },
        "shapes": {
            "In": {
                "type": "structure",
                "members": {
                    "documentation": {"shape": "Text", "documentation": "<p>A member's prose.</p>"},
                    "Name": {"shape": "Text", "documentationUrl": "https://docs.aws.amazon.com/"},
                },
            },
            "Text": {"type": "string", "documentation": "<p>Text.</p>"},
        },
    }


def fake_site(root: Path, services: list[str]) -> Path:
    data = root / "botocore" / "data"
    for service in services:
        (data / service / "2020-01-01").mkdir(parents=True)
        (data / service / "2020-01-01" / "service-2.json.gz").write_bytes(
            gzip.compress(json.dumps(model(service), indent=2).encode())
        )
        (data / service / "2020-01-01" / "examples-1.json").write_text('{"examples": {}}')
        (root / "boto3" / "data" / service).mkdir(parents=True)
    for name in build_layer().SHARED_DATA:
        (data / name).write_text("{}")
    endpoints = {"partitions": [{"partition": "aws", "services": {f"api.{s}": {"endpoints": {}} for s in services}}]}
    (data / "endpoints.json").write_text(json.dumps(endpoints, indent=2))
    for path in build_layer().UNREACHED:
        if path.endswith(".py"):
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_text("")
        else:
            (root / path).mkdir(parents=True, exist_ok=True)
            (root / path / "__init__.py").write_text("")
    (root / "aws_lambda_powertools" / "utilities" / "batch").mkdir(parents=True)
    return root


def test_the_build_keeps_the_services_the_code_declares() -> None:
    # Given SERVICES in dockhand/aws/clients.py / When the build reads it (without importing the layer)
    # Then it is the set the code itself refuses to go beyond
    assert build_layer().services() == clients.SERVICES


def test_trim_keeps_only_the_declared_services_and_the_shared_data(tmp_path: Path) -> None:
    site = fake_site(tmp_path, ["ecs", "sqs", "s3", "ec2"])
    # When the site is trimmed to ecs and sqs
    removed = build_layer().trim(site, keep={"ecs", "sqs"})
    # Then botocore and boto3 keep those two services and the files every client reads …
    data = site / "botocore" / "data"
    assert sorted(p.name for p in data.iterdir() if p.is_dir()) == ["ecs", "sqs"]
    assert sorted(p.name for p in (site / "boto3" / "data").iterdir()) == ["ecs", "sqs"]
    assert {p.name for p in data.iterdir() if p.is_file()} == set(build_layer().SHARED_DATA)
    # … what no import reaches is gone, what is used stays, and it says what it removed
    assert not any((site / path).exists() for path in build_layer().UNREACHED)
    assert (site / "aws_lambda_powertools" / "utilities" / "batch").is_dir()
    assert site / "botocore" / "data" / "s3" in removed


def test_trim_slims_the_kept_models_to_what_botocore_reads_to_make_a_client(tmp_path: Path) -> None:
    site = fake_site(tmp_path, ["ecs", "sqs", "s3"])
    # When the site is trimmed to ecs and sqs
    build_layer().trim(site, keep={"ecs", "sqs"})
    data = site / "botocore" / "data"
    # Then every kept file is plain JSON (botocore's loader reads `.json` before `.json.gz`), and no example is left
    assert list(data.rglob("*.gz")) == [] and list(data.rglob("examples-1.json")) == []
    slim = json.loads((data / "ecs" / "2020-01-01" / "service-2.json").read_text())
    # And the model keeps everything but its prose: a member called documentation stays, and so does the
    # documentation of the client context parameters (botocore reads it when it makes a client)
    wanted = model("ecs")
    del (
        wanted["documentation"],
        wanted["operations"]["Describe"]["documentation"],
        wanted["shapes"]["Text"]["documentation"],
    )
    del wanted["shapes"]["In"]["members"]["documentation"]["documentation"]
    del wanted["shapes"]["In"]["members"]["Name"]["documentationUrl"]
    assert slim == wanted
    # And endpoints.json keeps the kept services' endpoints alone (named by their endpoint prefix)
    endpoints = json.loads((data / "endpoints.json").read_text())
    assert sorted(endpoints["partitions"][0]["services"]) == ["api.ecs", "api.sqs"]


def test_trim_refuses_a_layer_without_a_model_for_a_service_the_code_calls(tmp_path: Path) -> None:
    site = fake_site(tmp_path, ["ecs"])
    # When a kept service has no model in botocore / Then the build fails and names it
    with pytest.raises(SystemExit, match="scheduler"):
        build_layer().trim(site, keep={"ecs", "scheduler"})


def test_the_build_refuses_a_python_whose_bytecode_lambda_cannot_read(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a Python other than 3.13 / Then no layer is built with its bytecode
    monkeypatch.setattr(sys, "version_info", (3, 12, 8, "final", 0))
    with pytest.raises(SystemExit, match=r"CPython 3\.13"):
        build_layer().check_python()


def test_a_client_of_a_service_the_layer_ships_no_model_for_is_refused() -> None:
    from dockhand import deps

    # When a handler asks for a client of a service outside SERVICES / Then it fails here, as it would on Lambda
    with pytest.raises(ValueError, match="'s3'"):
        deps.client("s3")
