"""The `startedBy` prefixes Dockhand gives the tasks it launches; EventBridge rules and the wings route on them.

template.yaml repeats the job prefix in the rule patterns (a template cannot import it): a test checks they agree.
"""

from __future__ import annotations

JOB_PREFIX = "dockhand-job/"  # a scheduled job's task: the batch wing owns it
RESTART_PREFIX = "dockhand-restart/"  # a standalone task the watcher restarted


def is_job_task(started_by: str | None) -> bool:
    return (started_by or "").startswith(JOB_PREFIX)
