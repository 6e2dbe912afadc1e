"""HubSpot's error bodies: `{"status": "error", "message", "correlationId", "category"}` for
a refused request, and StandardError entries in the `errors` of a 207 batch response."""

from __future__ import annotations

import uuid
from typing import Any


def correlation_id() -> str:
    return str(uuid.uuid4())


class HubSpotError(Exception):
    """A request refused as a whole."""

    def __init__(
        self,
        status: int,
        category: str,
        message: str,
        context: dict[str, list[str]] | None = None,
    ) -> None:
        super().__init__(f"{status} {category}: {message}")
        self.status = status
        self.category = category
        self.message = message
        self.context = context

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "status": "error",
            "message": self.message,
            "correlationId": correlation_id(),
            "category": self.category,
        }
        if self.context is not None:
            body["context"] = self.context
        return body


def validation_error(message: str) -> HubSpotError:
    return HubSpotError(400, "VALIDATION_ERROR", message)


def standard_error(
    category: str,
    message: str,
    context: dict[str, list[str]],
    details: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """One entry of a batch response's `errors` (the StandardError model)."""
    return {
        "status": "error",
        "category": category,
        "message": message,
        "context": context,
        "errors": details or [],
        "links": {},
    }


def batch_answer(
    results: list[dict[str, Any]],
    errors: list[dict[str, Any]],
    *,
    started: str,
    completed: str,
    ok: int = 200,
) -> tuple[int, dict[str, Any]]:
    """A batch response: `ok` when every input went through, else 207 with the errors."""
    body: dict[str, Any] = {
        "status": "COMPLETE",
        "results": results,
        "startedAt": started,
        "completedAt": completed,
    }
    if not errors:
        return ok, body
    return 207, {**body, "numErrors": len(errors), "errors": errors}
