"""The one place that picks the CRM adapter for the settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from connector.config.mapping import Mapping
from connector.crm.protocol import CrmAdapter
from connector.settings import Settings

if TYPE_CHECKING:
    from connector.store import HistoryStore


def connect(settings: Settings, mapping: Mapping, store: HistoryStore | None = None) -> CrmAdapter:
    """The adapter for `settings.crm`; `store` holds HubSpot's task ledger and the mirror
    for incremental reads (not needed to validate). Only that CRM's client library is
    imported: hubspot-api-client alone is ~120 ms and ~25 MB a Salesforce run never uses."""
    if settings.crm == "hubspot":
        from connector.crm.hubspot.adapter import HubSpotAdapter

        return HubSpotAdapter(settings, mapping, store)
    from connector.crm.salesforce.adapter import SalesforceAdapter

    return SalesforceAdapter(settings, mapping, store)
