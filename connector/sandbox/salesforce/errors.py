"""The two ways Salesforce says no: a whole request refused (an HTTP status and an error
array), or one record of a DML call refused (an entry in that record's `errors`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class SalesforceError(Exception):
    """A request refused as a whole, answered as `[{"message", "errorCode"}]`."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status

    def to_json(self) -> list[dict[str, Any]]:
        return [{"message": self.message, "errorCode": self.code}]


@dataclass(frozen=True)
class ErrorDetail:
    """One entry of a record's `errors` array in a DML result."""

    status_code: str
    message: str
    fields: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"statusCode": self.status_code, "message": self.message, "fields": [*self.fields]}


class RecordRejected(Exception):
    """A record the org refused to write; the rest of a collection call carries on."""

    def __init__(self, *errors: ErrorDetail) -> None:
        super().__init__("; ".join(f"{e.status_code}: {e.message}" for e in errors))
        self.errors = errors
