"""The edge: a decoded message validated against its model once, before any AWS call; what breaks the contract
is InvalidEvent, naming the fields (as the message spells them) and what was expected."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from dockhand.errors import InvalidEvent
from dockhand.events.aws import Envelope


def describe_validation(exc: ValidationError, what: str) -> str:
    """`what: detail.taskArn: Value error, expected …; …` — the fields named as the message spells them."""
    parts = []
    for err in exc.errors(include_url=False)[:5]:
        path = ".".join(str(p) for p in err["loc"]) or "(event)"
        parts.append(f"{path}: {err['msg']}")
    more = f" (and {exc.error_count() - 5} more)" if exc.error_count() > 5 else ""
    return f"{what}: " + "; ".join(parts) + more


def parse_message[M: BaseModel](model: type[M], data: Any, what: str | None = None) -> M:
    """Validate a message against its contract; InvalidEvent (reason `malformed`) names what is wrong."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidEvent(describe_validation(exc, what or model.__name__), reason="malformed") from None


def parse_event[E: Envelope](data: dict[str, Any], *accepted: type[E]) -> E:
    """An AWS event one of `accepted` models takes, by its detail-type; another detail-type is `unexpected_event`."""
    detail_type = data.get("detail-type")
    model = next((m for m in accepted if detail_type == m.DETAIL_TYPE), None)
    if model is None:
        takes = ", ".join(repr(m.DETAIL_TYPE) for m in accepted)
        shown = repr(detail_type)[:120]
        raise InvalidEvent(f"detail-type {shown} is not handled here (expected {takes})", reason="unexpected_event")
    return parse_message(model, data, detail_type)
