"""The pump: what Lambda's SQS event-source mappings do, for the template's functions.

Each function's queue is received from (batch size from the template) and handed to its `lambda_handler` with
the environment template.yaml gives it; records the handler reports in `batchItemFailures` stay for redelivery,
and moto's redrive moves them to the DLQ after `maxReceiveCount`. SNS deliveries are collected from a queue
subscribed to the notification topic. Idle, the pump only looks at moto's queues in-process: nothing is
received over HTTP until a message is there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from dockhand_local.host import FunctionHost, code_path
from dockhand_local.stack import ACCOUNT, ROOT, FunctionSpec, Stack

if TYPE_CHECKING:
    from dockhand_local.runtime import Runtime

SNS_CAPTURE_QUEUE = "dockhand-local-sns-capture"
IDLE_WAIT = 0.05  # wall seconds between looks at the queues when nothing moved


@dataclass
class Delivery:
    """One SQS message handed to one function (what the routing delivered)."""

    function: str
    queue: str
    body: dict[str, Any]
    failed: bool = False


class Pump:
    def __init__(self, runtime: Runtime, stack: Stack, host: FunctionHost, sns_queue_url: str) -> None:
        self.rt = runtime
        self.stack = stack
        self.host = host
        self.sns_queue_url = sns_queue_url
        self.deliveries: list[Delivery] = []
        self.sns_messages: list[dict[str, Any]] = []

    def run(self) -> None:
        """The pump thread: deliver while there is work, look again shortly when there is none."""
        while not self.rt.stopping.is_set():
            moved = 0
            try:
                if self._anything_visible():
                    moved = self.deliver_pending(max_rounds=1)
            except Exception as exc:
                self.rt.errors.append(f"pump: {type(exc).__name__}: {exc}")
            if not moved:
                self.rt.stopping.wait(IDLE_WAIT)

    def _queues(self) -> list[Any]:
        """moto's queues the pump serves (read in-process, no HTTP)."""
        from moto.sqs.models import sqs_backends

        backend = sqs_backends[ACCOUNT][self.stack.region]
        names = [url.rsplit("/", 1)[-1] for url in (self.sns_queue_url, *self._function_queue_urls())]
        return [backend.queues[name] for name in names if name in backend.queues]

    def _anything_visible(self) -> bool:
        """Whether any queue the pump serves has a message to receive."""
        return any(queue.messages for queue in self._queues())

    def busy(self) -> list[str]:
        """The queues with a message to deliver or in delivery (delayed messages are future work, not counted)."""
        out = []
        for queue in self._queues():
            waiting = sum(1 for m in list(queue._messages) if not m.delayed)
            if waiting:
                out.append(f"{waiting} message(s) in {queue.name}")
        return out

    def _function_queue_urls(self) -> list[str]:
        return [fn.queue_url for fn in self.stack.functions.values() if fn.queue_url]

    def deliver_pending(self, max_rounds: int = 50) -> int:
        """Receive from every function queue (and the SNS capture) and hand batches to the handlers."""
        total = 0
        for _ in range(max_rounds):
            moved = self._collect_sns()
            for fn in self.stack.functions.values():
                if fn.queue_url:
                    moved += self._deliver(fn)
            total += moved
            if not moved:
                break
        return total

    def _collect_sns(self) -> int:
        sqs = self.rt.client("sqs")
        messages = sqs.receive_message(QueueUrl=self.sns_queue_url, MaxNumberOfMessages=10).get("Messages", [])
        for message in messages:
            envelope = json.loads(message["Body"])
            text = envelope.get("Message", "")
            try:
                parsed: Any = json.loads(text)
            except (TypeError, ValueError):
                parsed = text
            entry = {
                "channel": "sns",
                "subject": envelope.get("Subject"),
                "message": parsed,
                "at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            }
            with self.rt.lock:
                self.sns_messages.append(entry)
            self.rt.note("sns", f"SNS: {_headline(parsed, envelope.get('Subject'))}")
            sqs.delete_message(QueueUrl=self.sns_queue_url, ReceiptHandle=message["ReceiptHandle"])
        return len(messages)

    def _deliver(self, fn: FunctionSpec) -> int:
        sqs = self.rt.client("sqs")
        assert fn.queue_url is not None and fn.queue_logical_id is not None
        response = sqs.receive_message(
            QueueUrl=fn.queue_url,
            MaxNumberOfMessages=min(fn.batch_size, 10),
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = response.get("Messages", [])
        if not messages:
            return 0
        queue_arn = self.stack.arns[fn.queue_logical_id]
        records = [_sqs_record(m, queue_arn, self.stack.region) for m in messages]
        for record in records:
            record["body"] = _with_account(record["body"])
        failed_ids = self._invoke(fn, {"Records": records})
        done = [m for m in messages if m["MessageId"] not in failed_ids]
        for m, record in zip(messages, records, strict=True):
            body = _json_or_text(record["body"])  # what the handler saw
            with self.rt.lock:
                self.deliveries.append(
                    Delivery(fn.logical_id, fn.queue_logical_id, body, failed=m["MessageId"] in failed_ids)
                )
        if done:
            sqs.delete_message_batch(
                QueueUrl=fn.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
        return len(messages)

    def _invoke(self, fn: FunctionSpec, event: dict[str, Any]) -> set[str]:
        """Call the function's lambda_handler; return the ids it reported as failed (all of them if it raised)."""
        all_ids = {r["messageId"] for r in event["Records"]}
        if not code_path(fn).exists():
            self.rt.note(
                "handler", f"{fn.logical_id}: {code_path(fn).relative_to(ROOT)} does not exist; message dropped"
            )
            return set()
        try:
            result = self.host.invoke(fn, event, self.rt.function_env(fn.logical_id), self.stack.arns[fn.logical_id])
        except Exception as exc:
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            self.rt.note(
                "handler",
                f"{fn.logical_id} raised {type(exc).__name__}: {first_line}; the batch will retry",
                function=fn.logical_id,
            )
            self.rt.errors.append(f"{fn.logical_id}: {type(exc).__name__}: {exc}")
            return all_ids
        failures = (result or {}).get("batchItemFailures", []) if isinstance(result, dict) else []
        failed = {f["itemIdentifier"] for f in failures}
        label = fn.logical_id.removesuffix("Function").lower()
        self.rt.note(
            "handler",
            f"{label}: {len(all_ids)} record(s)" + (f", {len(failed)} to retry" if failed else ""),
            function=fn.logical_id,
            failed=len(failed),
        )
        return failed


def _sqs_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    attributes = dict(message.get("Attributes", {}))
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": attributes,
        "messageAttributes": message.get("MessageAttributes", {}),
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def _with_account(body: str) -> str:
    """moto's SQS targets drop the envelope's `account` (AWS always sends it); put it back."""
    try:
        event = json.loads(body)
    except ValueError:
        return body
    if isinstance(event, dict) and "detail-type" in event and "source" in event and not event.get("account"):
        event["account"] = ACCOUNT
        return json.dumps(event)
    return body


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return {"text": text}


def _headline(message: Any, subject: str | None) -> str:
    if isinstance(message, dict):
        content = message.get("content") or {}
        if isinstance(content, dict) and (content.get("title") or content.get("description")):
            return str(content.get("title") or content.get("description"))
    return subject or str(message)[:100]
