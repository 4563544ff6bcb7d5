"""hello-batch: a one-off task. It does its work, prints what it did and exits: 0 when done, 1 when not.

ECS runs it with `RunTask`; Dockhand runs it on a schedule (`jobs:` in dockhand.yaml) and on demand
(`dockhand jobs run hello-batch`), records each run and retries a failed one. REPORT_DAYS says how many days
the report covers (the job's `overrides` set it).
"""

from __future__ import annotations

import os
import sys
import time
from datetime import UTC, datetime, timedelta


def main() -> int:
    try:
        days = int(os.environ.get("REPORT_DAYS", "1"))
    except ValueError:
        print(f"hello-batch: REPORT_DAYS must be a whole number, got {os.environ['REPORT_DAYS']!r}", file=sys.stderr)
        return 1
    end = datetime.now(UTC).replace(microsecond=0)
    start = end - timedelta(days=days)
    print(f"hello-batch {os.environ.get('APP_VERSION', 'dev')}: report from {start.isoformat()} to {end.isoformat()}")
    for day in range(days):
        time.sleep(1)  # the work
        print(f"  day {day + 1} of {days}: done", flush=True)
    print("hello-batch: finished", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
