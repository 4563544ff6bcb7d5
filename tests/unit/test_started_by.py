"""The `startedBy` prefix of job tasks: the batch wing gives it, the watcher skips it, the template routes on it."""

from __future__ import annotations

from dockhand.batch import spec
from dockhand.started_by import JOB_PREFIX, is_job_task
from dockhand_local.stack import load_template


def test_the_templates_rules_route_on_the_prefix_the_batch_wing_gives() -> None:
    # Given the rules of template.yaml that split task stops between the watcher and the batch wing
    resources = load_template()["Resources"]
    watch = resources["WatchTaskRule"]["Properties"]["EventPattern"]["detail"]["startedBy"]
    batch = resources["BatchTaskRule"]["Properties"]["EventPattern"]["detail"]["startedBy"]
    # Then both name the prefix the layer uses, and a job's task carries it
    assert watch[0] == {"anything-but": {"prefix": JOB_PREFIX}}
    assert batch == [{"prefix": JOB_PREFIX}]
    assert spec.started_by("nightly", "20261129T010000Z-abcdef", 1).startswith(JOB_PREFIX)


def test_only_a_job_task_is_a_job_task() -> None:
    assert is_job_task(spec.started_by("report", "20261129T010000Z-abcdef", 2))
    assert not is_job_task("dockhand-restart/1/abc")
    assert not is_job_task(None)
    assert not is_job_task("ecs-svc/123")
