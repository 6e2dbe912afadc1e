"""Extract: read every mapped CRM object and the product usage for one run."""

from __future__ import annotations

import logging
from contextlib import closing
from dataclasses import dataclass, replace
from datetime import date, timedelta

import polars as pl

from connector.config.load import Config
from connector.crm.protocol import CrmAdapter
from connector.errors import ConnectorError
from connector.frame import CURRENT_PREFIX, Extract
from connector.frame.decision_makers import with_title_decision_makers
from connector.logs import event
from connector.settings import Settings
from connector.usage import (
    FilesUsageSource,
    HttpUsageSource,
    RowShape,
    SqlUsageSource,
    UsageBatch,
)
from connector.usage.rows import WEEK

log = logging.getLogger("connector.extract")


@dataclass(frozen=True)
class Extracted:
    records: Extract
    usage: UsageBatch


def extract(crm: CrmAdapter, config: Config, settings: Settings, as_of: date) -> Extracted:
    """Every mapped object, with the CRM's current values of the fields the worker writes."""
    mapping = config.mapping
    written = [*mapping.results.values(), *config.fields_set_by_rules().values()]
    event(log, "reading", source="crm")
    accounts = crm.read(mapping.account, {CURRENT_PREFIX + name: name for name in written})
    opportunities = crm.read(mapping.opportunity, {})
    contacts = None
    if mapping.contact is not None:
        contacts = with_title_decision_makers(crm.read(mapping.contact, {}), mapping.contact)
    meetings = crm.read(mapping.meeting, {}) if mapping.meeting and contacts is not None else None
    event(log, "reading", source="usage")
    since = as_of - timedelta(weeks=settings.usage_history_weeks)
    usage = read_usage(settings, config, since, as_of)
    records = Extract(accounts, opportunities, usage.weekly, contacts, meetings, since)
    return Extracted(records, usage)


def read_usage(settings: Settings, config: Config, since: date, as_of: date) -> UsageBatch:
    """The weeks from `since` on, from the source the mapping names."""
    usage = config.mapping.usage
    shape = RowShape(usage.fields.account_key, usage.fields.week_start, usage.metric_paths())
    if usage.source == "sql":
        batch = _read_sql(settings, config, shape, since, as_of)
    elif usage.source == "files":
        assert usage.files is not None  # the mapping's validator requires the section
        file_format = usage.files.file_format
        assert file_format is not None
        with closing(FilesUsageSource(usage.files.path, file_format, shape)) as files:
            batch = files.weekly_metrics()
    else:
        batch = _read_http(settings, config, shape, since)
    return replace(batch, weekly=batch.weekly.filter(pl.col(WEEK) >= since))


def _read_http(settings: Settings, config: Config, shape: RowShape, since: date) -> UsageBatch:
    if not settings.usage_api_url or not settings.usage_api_token:
        raise ConnectorError(
            "USAGE_API_URL and USAGE_API_TOKEN must be set (see settings.example.env)."
        )
    source = HttpUsageSource(
        settings.usage_api_url,
        settings.usage_api_token.get_secret_value(),
        config.mapping.usage.http,
        shape,
        concurrency=settings.usage_concurrency,
        timeout=settings.http_timeout_seconds,
        verify=settings.ssl_context(),
    )
    with closing(source):
        return source.weekly_metrics(since)


def _read_sql(
    settings: Settings, config: Config, shape: RowShape, since: date, as_of: date
) -> UsageBatch:
    sql = config.mapping.usage.sql
    assert sql is not None  # the mapping's validator requires the section
    if not settings.usage_database_url:
        raise ConnectorError(
            "usage.source is sql: set USAGE_DATABASE_URL (see settings.example.env)."
        )
    source = SqlUsageSource(settings.usage_database_url.get_secret_value(), sql.query, shape)
    with closing(source):
        return source.weekly_metrics(since, as_of)
