"""The one place that picks the CRM adapter for the settings."""

from __future__ import annotations

from connector.config.mapping import Mapping
from connector.crm.hubspot.adapter import HubSpotAdapter
from connector.crm.protocol import CrmAdapter
from connector.crm.salesforce.adapter import SalesforceAdapter
from connector.settings import Settings
from connector.store import HistoryStore


def connect(settings: Settings, mapping: Mapping, store: HistoryStore | None = None) -> CrmAdapter:
    """The adapter for `settings.crm`; `store` holds HubSpot's task ledger and the mirror
    for incremental reads (not needed to validate)."""
    if settings.crm == "hubspot":
        return HubSpotAdapter(settings, mapping, store)
    return SalesforceAdapter(settings, mapping, store)
