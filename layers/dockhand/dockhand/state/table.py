"""The one DynamoDB table every wing keeps its records in (single-table design).

Keys: `pk` (partition) and `sk` (sort), both strings; `expires_at` (epoch seconds) is the TTL attribute.
Each record type owns a pk prefix, so wings never collide:

| record            | pk                         | sk                          | owner  |
|-------------------|----------------------------|-----------------------------|--------|
| deploy ledger     | LEDGER#<service arn>       | CURRENT                     | deploy |
| deployment        | DEPLOYMENT#<deployment id> | META                        | deploy |
| hold              | HOLD#<repository>          | <digest>                    | watch  |
| alert windows     | ALERT#<cluster>#<group>    | <cause>                     | watch  |
| stop history      | STOPS#<cluster>#<group>    | <stopped at>#<task id>      | watch  |
| restart           | RESTART#<chain id>         | ATTEMPT#<nnn>               | watch  |
| claim             | CLAIM#<scope>#<key>        | CLAIM                       | all    |
| Slack message ref | SLACK#<thread/update key>  | REF                         | watch  |
| job run           | JOB#<job name>             | RUN#<run id>                | batch  |
| promotion         | PROMOTION#<repository>     | TO#/RAN#<stage>#<digest>, AT#<stage> | promote |
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from dockhand.aws.clients import reraise_retryable
from dockhand.errors import RetryableError

BATCH_GET_MAX = 100  # keys per BatchGetItem call (the API's limit)
BATCH_GET_ROUNDS = 3  # calls for one batch before keys DynamoDB keeps leaving unprocessed make the message retry


def ttl_after(seconds: float) -> int:
    return int(time.time() + seconds)


def now_iso() -> str:
    """Now, UTC, to the second: how every record stamps its times."""
    return datetime.now(UTC).isoformat(timespec="seconds")


class Table:
    """A thin typed face over one DynamoDB table (resource API, so values are plain Python)."""

    def __init__(self, dynamodb_resource: Any, name: str) -> None:
        self.name = name
        self._resource = dynamodb_resource
        self._table = dynamodb_resource.Table(name)

    @property
    def raw(self) -> Any:
        return self._table

    def get(self, pk: str, sk: str, consistent: bool = True) -> dict[str, Any] | None:
        try:
            item = self._table.get_item(Key={"pk": pk, "sk": sk}, ConsistentRead=consistent).get("Item")
        except Exception as exc:
            reraise_retryable(exc, f"GetItem {pk}")
            raise
        return dict(item) if item else None

    def get_many(self, keys: list[tuple[str, str]], consistent: bool = True) -> dict[tuple[str, str], dict[str, Any]]:
        """The items of `keys` that exist, by (pk, sk): BatchGetItem, 100 keys a call; keys DynamoDB leaves
        unprocessed are asked again (a few rounds, then RetryableError)."""
        found: dict[tuple[str, str], dict[str, Any]] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), BATCH_GET_MAX):
            pending: list[dict[str, str]] = [{"pk": pk, "sk": sk} for pk, sk in unique[start : start + BATCH_GET_MAX]]
            for _round in range(BATCH_GET_ROUNDS):
                request = {self.name: {"Keys": pending, "ConsistentRead": consistent}}
                try:
                    out = self._resource.batch_get_item(RequestItems=request)
                except Exception as exc:
                    reraise_retryable(exc, f"BatchGetItem {self.name}")
                    raise
                for item in out.get("Responses", {}).get(self.name, []):
                    found[(str(item["pk"]), str(item["sk"]))] = dict(item)
                pending = out.get("UnprocessedKeys", {}).get(self.name, {}).get("Keys", [])
                if not pending:
                    break
            if pending:
                raise RetryableError(f"BatchGetItem {self.name}: {len(pending)} key(s) left unprocessed")
        return found

    def put(
        self,
        item: dict[str, Any],
        condition: str | None = None,
        values: dict[str, Any] | None = None,
        names: dict[str, str] | None = None,
    ) -> bool:
        """Put; with a condition, return False (instead of raising) when it does not hold."""
        kwargs: dict[str, Any] = {"Item": item}
        if condition:
            kwargs["ConditionExpression"] = condition
        if values:
            kwargs["ExpressionAttributeValues"] = values
        if names:
            kwargs["ExpressionAttributeNames"] = names
        try:
            self._table.put_item(**kwargs)
        except Exception as exc:
            if _is_condition_failure(exc):
                return False
            reraise_retryable(exc, f"PutItem {item.get('pk')}")
            raise
        return True

    def update(
        self,
        pk: str,
        sk: str,
        expression: str,
        values: dict[str, Any] | None = None,
        names: dict[str, str] | None = None,
        condition: str | None = None,
    ) -> dict[str, Any] | None:
        """UpdateItem returning ALL_NEW; None when the condition does not hold."""
        kwargs: dict[str, Any] = {
            "Key": {"pk": pk, "sk": sk},
            "UpdateExpression": expression,
            "ReturnValues": "ALL_NEW",
        }
        if values:
            kwargs["ExpressionAttributeValues"] = values
        if names:
            kwargs["ExpressionAttributeNames"] = names
        if condition:
            kwargs["ConditionExpression"] = condition
        try:
            return dict(self._table.update_item(**kwargs).get("Attributes", {}))
        except Exception as exc:
            if _is_condition_failure(exc):
                return None
            reraise_retryable(exc, f"UpdateItem {pk}")
            raise

    def delete(self, pk: str, sk: str) -> None:
        try:
            self._table.delete_item(Key={"pk": pk, "sk": sk})
        except Exception as exc:
            reraise_retryable(exc, f"DeleteItem {pk}")
            raise

    def query(
        self,
        pk: str,
        sk_prefix: str | None = None,
        newest_first: bool = False,
        limit: int | None = None,
        sk_between: tuple[str, str] | None = None,
    ) -> list[dict[str, Any]]:
        """Items of one partition, by sort key: all, those with a prefix, or those between two keys (inclusive)."""
        from boto3.dynamodb.conditions import Key

        cond: Any = Key("pk").eq(pk)
        if sk_prefix:
            cond = cond & Key("sk").begins_with(sk_prefix)
        elif sk_between:
            cond = cond & Key("sk").between(*sk_between)
        kwargs: dict[str, Any] = {"KeyConditionExpression": cond, "ScanIndexForward": not newest_first}
        items: list[dict[str, Any]] = []
        while True:
            if limit:
                kwargs["Limit"] = limit - len(items)
            try:
                page = self._table.query(**kwargs)
            except Exception as exc:
                reraise_retryable(exc, f"Query {pk}")
                raise
            items += [dict(i) for i in page.get("Items", [])]
            if "LastEvaluatedKey" not in page or (limit and len(items) >= limit):
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def scan_prefix(self, pk_prefix: str) -> list[dict[str, Any]]:
        """For CLI listings only (holds, jobs): a filtered scan, never on a hot path."""
        from boto3.dynamodb.conditions import Attr

        kwargs: dict[str, Any] = {"FilterExpression": Attr("pk").begins_with(pk_prefix)}
        items: list[dict[str, Any]] = []
        while True:
            page = self._table.scan(**kwargs)
            items += [dict(i) for i in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _is_condition_failure(exc: BaseException) -> bool:
    response = getattr(exc, "response", None) or {}
    return response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"
