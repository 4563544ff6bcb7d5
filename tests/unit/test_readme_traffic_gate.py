"""The README's traffic-gate section is a contract: its declarations are a valid file, its service configuration is
what ECS's UpdateService takes (botocore's own model), and the stack outputs it names exist in template.yaml."""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from dockhand.config import parse_config
from dockhand_local.stack import ROOT, load_template

SECTION = "### The traffic gate (ECS blue/green deployments)\n"


def blocks(language: str) -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(SECTION)
    end = text.index("\nNot done yet:", start)
    return re.findall(rf"^```{language}\n(.*?)^```$", text[start:end], flags=re.S | re.M)


def test_the_declarations_in_the_readme_are_a_valid_file() -> None:
    # Given the section's YAML block / When it is loaded as dockhand.yaml
    [block] = blocks("yaml")
    cfg = parse_config(yaml.safe_load(block), "README.md")
    # Then production's services are gated as the comments say
    [prod] = cfg.deploy.gated_targets("prod", "web")
    gate = prod.traffic_gate
    assert gate is not None and gate.approval is not None
    assert (gate.bake_minutes, gate.alarms, gate.approval.expires_minutes) == (15, ["web-green-5xx"], 120)


def test_the_service_configuration_in_the_readme_is_what_update_service_takes() -> None:
    import botocore.session
    from botocore.validate import ParamValidator

    # Given the section's JSON block (a service's deploymentConfiguration, as `--deployment-configuration` reads it)
    [block] = blocks("json")
    configuration: dict[str, Any] = json.loads(block)
    # Then botocore's model of UpdateService accepts it as it is
    shape = botocore.session.get_session().get_service_model("ecs").operation_model("UpdateService").input_shape
    report = ParamValidator().validate(
        {"cluster": "prod", "service": "web", "deploymentConfiguration": configuration}, shape
    )
    assert not report.has_errors(), report.generate_report()
    # And the hook's placeholders name outputs the stack has
    [hook] = configuration["lifecycleHooks"]
    outputs = load_template(ROOT / "template.yaml")["Outputs"]
    for field in ("hookTargetArn", "roleArn"):
        name = re.fullmatch(r"<(\w+) output>", hook[field])
        assert name and name[1] in outputs, hook[field]
    assert hook["lifecycleStages"] == ["POST_TEST_TRAFFIC_SHIFT"]
