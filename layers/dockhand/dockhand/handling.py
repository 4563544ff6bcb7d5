"""What every SQS-fed handler shares: the edge (a body read within its limits), the record guard, the DLQ parker.

Bad input is decided once, at the first receive: a body that breaks its contract (`record_json`'s limits here,
the models of `dockhand.events`: InvalidEvent) or a message a flow refuses before any AWS change (BadInputError:
an undeclared job) is logged once (structured), counted, parked in the function's DLQ with the reason as the
`dockhand-error` attribute (so nothing is lost), and reported as processed: never retried, never failing the
rest of the batch. Every other error propagates: the batch processor fails that record and SQS redelivers it
(then the DLQ by redrive). One that is not a RetryableError — a pydantic ValidationError inside a flow included —
is a bug of ours, not bad input, and is logged as an error with its stack.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from typing import Any

from dockhand.aws.protocols import SqsClient
from dockhand.errors import BadInputError, InvalidEvent, RetryableError
from dockhand.observability import count, logger
from dockhand.state.claims import current_delivery

MAX_BODY_BYTES = 256 * 1024  # EventBridge's event size limit; Dockhand's own messages are far smaller
MAX_DEPTH = 20  # AWS events nest about 8 deep; DynamoDB documents stop at 32
MAX_STRING = 8192  # characters in any one string, key or value (keeps every item far below DynamoDB's 400 KB)
MAX_DIGITS = 38  # DynamoDB numbers hold 38 significant digits (more raises decimal.Inexact / Rounded)
DLQ_MAX_BYTES = 1024 * 1024  # SQS message size (body and attributes) of the DLQs


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def record_json(body: Any) -> dict[str, Any]:
    """A message body as a JSON object within the limits above; InvalidEvent (with its reason) otherwise."""
    if not isinstance(body, str):
        raise InvalidEvent("the record has no message body", reason="malformed")
    size = len(body.encode("utf-8", "surrogatepass"))
    if size > MAX_BODY_BYTES:
        raise InvalidEvent(f"message body is {size} bytes; the limit is {MAX_BODY_BYTES}", reason="too_large")
    try:
        data = json.loads(body, parse_constant=_no_constant)
    except RecursionError:
        raise InvalidEvent(f"message body nests deeper than {MAX_DEPTH} levels", reason="too_deep") from None
    except json.JSONDecodeError as exc:
        raise InvalidEvent(f"message body is not JSON ({exc.msg} at {exc.pos})", reason="malformed") from None
    except ValueError as exc:  # NaN / Infinity, integers past Python's 4300-digit conversion limit
        raise InvalidEvent(f"message body is not JSON Dockhand can read ({exc})", reason="bad_number") from None
    if not isinstance(data, dict):
        raise InvalidEvent(f"message body is a JSON {type(data).__name__}, expected an object", reason="malformed")
    check_tree(data)
    return data


def check_tree(data: Any) -> None:
    """Depth, string and number limits over a decoded message (iterative: no recursion on hostile input)."""
    stack: list[tuple[Any, int, str]] = [(data, 0, "")]
    while stack:
        value, depth, path = stack.pop()
        where = path or "(body)"
        if isinstance(value, dict | list):
            if depth >= MAX_DEPTH:
                raise InvalidEvent(f"{where}: nests deeper than {MAX_DEPTH} levels", reason="too_deep")
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str):
                    _check_text(key, f"{path}.{key[:40]}" if path else key[:40])
                stack.append((item, depth + 1, f"{path}.{key}"[:200] if path else str(key)[:200]))
        elif isinstance(value, str):
            _check_text(value, where)
        elif isinstance(value, bool) or value is None:
            continue
        elif isinstance(value, int):
            if abs(value) >= 10**MAX_DIGITS:
                raise InvalidEvent(f"{where}: integer has more than {MAX_DIGITS} digits", reason="bad_number")
        elif isinstance(value, float) and not math.isfinite(value):
            raise InvalidEvent(f"{where}: number is out of range", reason="bad_number")


def _check_text(text: str, where: str) -> None:
    if len(text) > MAX_STRING:
        raise InvalidEvent(f"{where}: string of {len(text)} characters; the limit is {MAX_STRING}", reason="too_large")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidEvent(f"{where}: string is not valid Unicode (a lone surrogate)", reason="malformed") from None


# ---------------------------------------------------------------------------------------------- records


def guarded(
    handle: Callable[[Any], Any], *, what: str, park: Callable[[str, str], None] | None = None
) -> Callable[[Any], Any]:
    """Wrap a record handler: bad input → one log line, a metric, parked, not retried; anything else is raised."""

    def run(record: Any) -> Any:
        message_id = getattr(record, "message_id", None)
        # Claims opened while handling this record belong to this delivery (SQS keeps the id across redeliveries).
        delivery = current_delivery.set(message_id)
        try:
            return handle(record)
        except BadInputError as exc:
            reason, message = exc.reason, str(exc)
        except RetryableError as exc:
            logger.warning("record will be retried", extra={"what": what, "error": str(exc), "message_id": message_id})
            raise
        except Exception as exc:
            logger.exception(
                "record failed after the edge: retried, then parked by the queue's redrive",
                extra={"what": what, "error_type": type(exc).__name__, "message_id": message_id},
            )
            count("RecordFailed", error=type(exc).__name__)
            raise
        finally:
            current_delivery.reset(delivery)
        logger.error(
            "bad input: not retried",
            extra={"what": what, "reason": reason, "error": message, "message_id": message_id},
        )
        count("BadInput", reason=reason)
        if park is not None:
            body = getattr(record, "body", None)
            park(body if isinstance(body, str) else "", f"{reason}: {message}")
        return None

    return run


def process_batch(event: Any, handler: Callable[[Any], Any], processor: Any, context: Any) -> dict[str, Any]:
    """process_partial_response, except that an empty batch (or no batch at all) has no failures."""
    from aws_lambda_powertools.utilities.batch import process_partial_response

    if not isinstance(event, dict) or not isinstance(event.get("Records"), list) or not event["Records"]:
        if not isinstance(event, dict) or "Records" not in event:
            logger.warning("not an SQS batch: nothing to process", extra={"type": type(event).__name__})
        return {"batchItemFailures": []}
    return dict(process_partial_response(event=event, record_handler=handler, processor=processor, context=context))


# ------------------------------------------------------------------------------------------------ parking


def _attribute_text(text: str, limit: int = 1000) -> str:
    """SQS attribute values take #x9 #xA #xD and #x20 upwards (no surrogates): anything else becomes '?'."""
    cleaned = "".join(c if c in "\t\n\r" or (c >= " " and not "\ud800" <= c <= "\udfff") else "?" for c in text)
    return cleaned[:limit]


def dlq_parker(sqs_client: SqsClient, queue_url: str | None) -> Callable[[str, str], None] | None:
    """A parker that sends the original body to the DLQ with the reason as the `dockhand-error` attribute.

    A FIFO DLQ gets a group of its own (`bad-input`) and a deduplication id from the body: nothing consumes the
    DLQ, so the group blocks nobody. A body too large to park beside its attributes is cut, and says so.
    """
    if not queue_url:
        return None

    def park(body: str, reason: str) -> None:
        attributes = {"dockhand-error": {"DataType": "String", "StringValue": _attribute_text(reason) or "bad_input"}}
        raw = (body or "{}").encode("utf-8", "replace")  # a lone surrogate cannot travel: it becomes '?'
        room = DLQ_MAX_BYTES - 4096
        if len(raw) > room:
            attributes["dockhand-truncated"] = {"DataType": "String", "StringValue": f"{len(raw)} bytes, kept {room}"}
        body = raw[:room].decode("utf-8", "ignore")
        kwargs: dict[str, Any] = {
            "QueueUrl": queue_url,
            "MessageBody": body or "{}",
            "MessageAttributes": attributes,
        }
        if queue_url.endswith(".fifo"):
            kwargs["MessageGroupId"] = "bad-input"
            kwargs["MessageDeduplicationId"] = hashlib.sha256(raw).hexdigest()
        sqs_client.send_message(**kwargs)

    return park
