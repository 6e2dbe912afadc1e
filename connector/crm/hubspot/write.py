"""Writing HubSpot: batch updates of 100, a few in flight, each refused input reported on its
own."""

from __future__ import annotations

from collections.abc import Sequence

from hubspot.crm.objects.models import SimplePublicObjectBatchInput

from connector.crm.hubspot.batches import send_batches
from connector.crm.hubspot.client import BATCH_LIMIT, BatchOutcome, HubSpotClient
from connector.crm.hubspot.describe import write_value
from connector.crm.protocol import FieldUpdate, WriteFailure, WriteResult
from connector.errors import CrmError


def update_records(
    client: HubSpotClient, object_type: str, updates: Sequence[FieldUpdate], result: WriteResult
) -> WriteResult:
    """Batches of 100, `client.concurrency` in flight, each tallied into `result` as soon as
    it is answered (in the order they were sent)."""

    def send(chunk: Sequence[FieldUpdate]) -> BatchOutcome:
        inputs = [
            SimplePublicObjectBatchInput(
                id=u.record_id,
                properties={f: write_value(v) for f, v in u.values().items()},
                object_write_trace_id=u.record_id,
                local_vars_configuration=client.models,
            )
            for u in chunk
        ]
        return client.update(object_type, inputs)

    def tally(chunk: Sequence[FieldUpdate], outcome: BatchOutcome | Exception) -> None:
        _tally(chunk, outcome, result)

    chunks = [updates[start : start + BATCH_LIMIT] for start in range(0, len(updates), BATCH_LIMIT)]
    send_batches(chunks, send, tally, concurrency=client.concurrency)
    return result


def _tally(
    chunk: Sequence[FieldUpdate], outcome: BatchOutcome | Exception, result: WriteResult
) -> None:
    if isinstance(outcome, Exception):
        if not isinstance(outcome, CrmError) or outcome.status != 400:
            raise outcome  # not this batch's fault: stop rather than fail every record
        result.failures += [
            WriteFailure(u.record_id, u.label, outcome.code or "ERROR", str(outcome)) for u in chunk
        ]
        return
    written = set(outcome.ids)
    for update in chunk:
        if update.record_id in written:
            result.written += 1
            continue
        code, message = outcome.errors.get(
            update.record_id, ("NOT_CONFIRMED", "HubSpot did not report this record")
        )
        result.failures.append(WriteFailure(update.record_id, update.label, code, message))
