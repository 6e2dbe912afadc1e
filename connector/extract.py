"""Extract: read every mapped CRM object and the product usage for one run."""

from __future__ import annotations

import logging
from contextlib import closing
from dataclasses import dataclass
from datetime import date, timedelta

from connector.config.load import Config
from connector.crm.protocol import CrmAdapter
from connector.errors import ConnectorError
from connector.frame import CURRENT_PREFIX, Extract
from connector.frame.decision_makers import with_title_decision_makers
from connector.logs import event
from connector.settings import Settings
from connector.usage import HttpUsageSource, UsageBatch

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
    usage = read_usage(settings, config, since)
    records = Extract(accounts, opportunities, usage.weekly, contacts, meetings, since)
    return Extracted(records, usage)


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
