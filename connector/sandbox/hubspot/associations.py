"""`POST /crm/v4/associations/{from}/{to}/batch/read`: the records associated with each input.

Unlike search, associations are read from the records themselves, so a task is visible here
as soon as its create has committed — which is what reconciling a lost create relies on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connector.sandbox.hubspot.errors import batch_answer, standard_error, validation_error
from connector.sandbox.hubspot.object_types import ASSOCIATION_TYPES
from connector.sandbox.hubspot.store import CrmStore

BATCH_LIMIT = 1000  # inputs per call
PAGE_SIZE = 500  # associated records per input and page


def batch_read(
    store: CrmStore, from_type: str, to_type: str, body: Mapping[str, Any], now: str
) -> tuple[int, dict[str, Any]]:
    inputs = body["inputs"]
    if len(inputs) > BATCH_LIMIT:
        raise validation_error(f"Batch input size must be at most {BATCH_LIMIT}.")
    type_id = ASSOCIATION_TYPES.get((from_type, to_type))
    results, errors = [], []
    for item in inputs:
        from_id = str(item["id"])
        linked = store.linked(from_type, from_id, to_type)
        start = int(item.get("after") or 0)
        page = linked[start : start + PAGE_SIZE]
        if not page or type_id is None:
            errors.append(
                standard_error(
                    "OBJECT_NOT_FOUND",
                    f"No {to_type} is associated with {from_type} {from_id}.",
                    {"fromObjectId": [from_id]},
                )
            )
            continue
        result: dict[str, Any] = {
            "from": {"id": from_id},
            "to": [
                {
                    "toObjectId": to_id,
                    "associationTypes": [
                        {"category": "HUBSPOT_DEFINED", "typeId": type_id, "label": None}
                    ],
                }
                for to_id in page
            ],
        }
        if start + PAGE_SIZE < len(linked):
            result["paging"] = {"next": {"after": str(start + PAGE_SIZE)}}
        results.append(result)
    return batch_answer(results, errors, started=now, completed=now)
