"""The declarations file: valid files load, invalid ones name the file, the field, the value and the expectation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dockhand.config import TagPolicy, json_schema, load_config, parse_config
from dockhand.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_example_is_valid() -> None:
    # Given the example the stack ships / When it is loaded / Then it has a deploy target and a job
    cfg = load_config(ROOT / "config" / "dockhand.yaml")
    assert cfg.deploy.targets[0].repository == "web"
    assert cfg.jobs[0].timezone == "Europe/Berlin"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("latest", ("exact", "latest")),
        ("glob:release-*", ("glob", "release-*")),
        ("regex:^v\\d+$", ("regex", "^v\\d+$")),
        ("semver:^1.2", ("semver", "^1.2")),
    ],
)
def test_tag_policy_shorthand(text: str, expected: tuple[str, str]) -> None:
    policy = TagPolicy.model_validate(text)
    assert (policy.kind, policy.pattern) == expected


def test_error_names_file_field_value_and_expectation(write_config) -> None:
    # Given a target whose services list is a string and a job with a bad time zone
    path = write_config(
        {
            "deploy": {"targets": [{"repository": "web", "tags": "latest", "cluster": "c", "services": "web"}]},
            "jobs": [
                {
                    "name": "j",
                    "schedule": "cron(0 2 * * ? *)",
                    "timezone": "Mars/Olympus",
                    "cluster": "c",
                    "task_definition": "t",
                }
            ],
        }
    )
    # When it is loaded
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    # Then each problem names the file, the path to the field and the value given
    assert str(path) in message
    assert "deploy.targets.0.services" in message
    assert "'web'" in message
    assert "jobs.0.timezone" in message
    assert "IANA time zone" in message


def test_unknown_key_is_refused(write_config) -> None:
    path = write_config({"deploy": {"targetz": []}})
    with pytest.raises(ConfigError, match=r"deploy\.targetz"):
        load_config(path)


def test_broken_yaml_names_the_line(write_config) -> None:
    path = write_config("deploy:\n  targets: [\n")
    with pytest.raises(ConfigError, match=r"line \d+"):
        load_config(path)


def test_bad_regex_and_semver_are_refused() -> None:
    with pytest.raises(ConfigError, match="does not compile"):
        parse_config(
            {"deploy": {"targets": [{"repository": "r", "tags": "regex:([", "cluster": "c", "services": ["s"]}]}}
        )


def test_checked_in_schema_matches_the_models() -> None:
    # The JSON Schema is generated; the checked-in copy must be the generated one (`make schema`).
    checked_in = json.loads((ROOT / "schema" / "dockhand.schema.json").read_text())
    assert checked_in == json_schema()
