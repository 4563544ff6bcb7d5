"""The context object Lambda passes a handler, in the shape Powertools reads: for the local runtime, the bench and
the tests (never part of a Lambda artifact)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field


@dataclass
class LambdaContext:
    function_name: str = "dockhand-test"
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:dockhand-test"
    memory_limit_in_mb: int = 256
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = ""
    log_stream_name: str = "local"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000
