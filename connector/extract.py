"""Extract: read every mapped CRM object and the product usage for one run.

The objects are independent queries, so they are read side by side (`CRM_CONCURRENCY` at
once), and the usage API, another server, is read beside them: at a real org's 100–300 ms a
call, waiting for one page after another is most of a run. The pages of one query stay
sequential: each `queryMore` or `after` cursor comes from the page before it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from contextlib import closing
from contextvars import copy_context
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TypeVar

from connector.config.load import Config
from connector.crm.protocol import CrmAdapter
from connector.errors import ConnectorError
from connector.frame import CURRENT_PREFIX, Extract
from connector.logs import event
from connector.settings import Settings
from connector.usage import HttpUsageSource, UsageBatch

log = logging.getLogger("connector.extract")
T = TypeVar("T")


@dataclass(frozen=True)
class Extracted:
    records: Extract
    usage: UsageBatch


def extract(crm: CrmAdapter, config: Config, settings: Settings, as_of: date) -> Extracted:
    """Every mapped object, with the CRM's current values of the fields the worker writes."""
    mapping = config.mapping
    written = [*mapping.results.values(), *config.fields_set_by_rules().values()]
    since = as_of - timedelta(weeks=settings.usage_history_weeks)
    with (
        ThreadPoolExecutor(1, thread_name_prefix="usage") as usage_pool,
        ThreadPoolExecutor(settings.crm_concurrency, thread_name_prefix="crm") as crm_pool,
    ):
        event(log, "reading", source="usage")
        usage_read = SideBySide(usage_pool).submit(read_usage, settings, config, since)
        event(log, "reading", source="crm", concurrency=settings.crm_concurrency)
        crm_reads = SideBySide(crm_pool)
        current = {CURRENT_PREFIX + name: name for name in written}
        reads = [crm_reads.submit(crm.read, mapping.account, current)]
        reads.append(crm_reads.submit(crm.read, mapping.opportunity, {}))
        if mapping.contact:
            reads.append(crm_reads.submit(crm.read, mapping.contact, {}))
            if mapping.meeting:
                reads.append(crm_reads.submit(crm.read, mapping.meeting, {}))
        # in submission order, which is start order: a failure comes before the reads it
        # kept from starting
        accounts, opportunities, *people = [read.result() for read in reads]
        usage = usage_read.result()
    contacts = people[0] if people else None
    meetings = people[1] if len(people) > 1 else None
    records = Extract(accounts, opportunities, usage.weekly, contacts, meetings, since)
    return Extracted(records, usage)


class SideBySide:
    """Reads on a pool, each in the run's logging context (its run id); once one fails,
    those not yet started are not started — the run stops, so their calls would be wasted."""

    def __init__(self, pool: ThreadPoolExecutor) -> None:
        self._pool = pool
        self._failed = threading.Event()

    def submit(self, read: Callable[..., T], *args: object) -> Future[T]:
        return self._pool.submit(copy_context().run, self._unless_failed, read, *args)

    def _unless_failed(self, read: Callable[..., T], *args: object) -> T:
        if self._failed.is_set():
            raise CancelledError  # another read failed: the run stops with its error
        try:
            return read(*args)
        except BaseException:
            self._failed.set()
            raise


def read_usage(settings: Settings, config: Config, since: date) -> UsageBatch:
    if not settings.usage_api_url or not settings.usage_api_token:
        raise ConnectorError(
            "USAGE_API_URL and USAGE_API_TOKEN must be set (see settings.example.env)."
        )
    source = HttpUsageSource(
        settings.usage_api_url,
        settings.usage_api_token.get_secret_value(),
        timeout=settings.http_timeout_seconds,
        verify=settings.ssl_context(),
    )
    with closing(source):
        return source.weekly_metrics(config.mapping.usage.metrics, since)
