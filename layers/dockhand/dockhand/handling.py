"""What every SQS-fed handler shares: unwrap a record, and treat bad input the same way everywhere.

Bad input is logged once (structured), counted, parked in the function's DLQ with the reason (so nothing is
lost), and reported as processed, so it is never retried and never fails the rest of the batch.
Retryable errors propagate: the batch processor marks that one record failed and SQS redelivers it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from dockhand.aws.protocols import SqsClient
from dockhand.errors import BadInputError
from dockhand.observability import count, logger
from dockhand.state.claims import current_delivery


def record_json(body: str) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise BadInputError(f"message body is not JSON ({exc.msg} at {exc.pos})", reason="malformed") from None
    if not isinstance(data, dict):
        raise BadInputError(f"message body is a JSON {type(data).__name__}, expected an object", reason="malformed")
    return data


def describe_validation(exc: ValidationError, what: str) -> str:
    parts = []
    for err in exc.errors()[:5]:
        path = ".".join(str(p) for p in err["loc"]) or "(event)"
        parts.append(f"{path}: {err['msg']}")
    return f"{what}: " + "; ".join(parts)


def guarded(
    handle: Callable[[Any], Any], *, what: str, park: Callable[[str, str], None] | None = None
) -> Callable[[Any], Any]:
    """Wrap a record handler: ValidationError/BadInputError → one log line, a metric, parked, not retried."""

    def run(record: Any) -> Any:
        body = getattr(record, "body", "")
        # Claims opened while handling this record belong to this delivery (SQS keeps the id across redeliveries).
        delivery = current_delivery.set(getattr(record, "message_id", None))
        try:
            return handle(record)
        except ValidationError as exc:
            reason, message = "malformed", describe_validation(exc, what)
        except BadInputError as exc:
            reason, message = exc.reason, str(exc)
        finally:
            current_delivery.reset(delivery)
        logger.error(
            "bad input: not retried",
            extra={"what": what, "reason": reason, "error": message, "message_id": getattr(record, "message_id", None)},
        )
        count("BadInput", reason=reason)
        if park is not None:
            park(body, f"{reason}: {message}")
        return None

    return run


def dlq_parker(sqs_client: SqsClient, queue_url: str | None) -> Callable[[str, str], None] | None:
    """A parker that sends the original body to the DLQ with the reason as an attribute."""
    if not queue_url:
        return None

    def park(body: str, reason: str) -> None:
        kwargs: dict[str, Any] = {
            "QueueUrl": queue_url,
            "MessageBody": body or "{}",
            "MessageAttributes": {"dockhand-error": {"DataType": "String", "StringValue": reason[:1000]}},
        }
        if queue_url.endswith(".fifo"):
            import hashlib

            kwargs["MessageGroupId"] = "bad-input"
            kwargs["MessageDeduplicationId"] = hashlib.sha256((body or "").encode()).hexdigest()
        sqs_client.send_message(**kwargs)

    return park
