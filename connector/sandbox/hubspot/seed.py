"""Seeds a portal with the demo company (`DemoCompany.populate`), which speaks Salesforce:
each insert is translated to the HubSpot record a migrated portal would hold, and the id
returned is the one later inserts refer to (an owner id for a User, a record id otherwise)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time

from connector.sandbox.hubspot.portal import HubSpotPortal
from connector.sandbox.hubspot.properties import iso_millis

LIFECYCLE = {"Customer": "customer", "Prospect": "lead", "Former Customer": "other"}
INDUSTRY = {
    "Technology": "COMPUTER_SOFTWARE",
    "Healthcare": "HOSPITAL_HEALTH_CARE",
    "Retail": "RETAIL",
    "Manufacturing": "MACHINERY",
    "Finance": "FINANCIAL_SERVICES",
    "Hospitality": "HOSPITALITY",
}
DEAL_TYPE = {"New Business": "newbusiness", "Renewal": "renewal", "Expansion": "expansion"}
DEAL_STAGE = {
    "Prospecting": "qualifiedtobuy",
    "Negotiation": "contractsent",
    "Closed Won": "closedwon",
    "Closed Lost": "closedlost",
}


class SeedError(ValueError):
    """A Salesforce-shaped insert the seeder has no HubSpot translation for."""


class PortalSeeder:
    def __init__(self, portal: HubSpotPortal) -> None:
        self.portal = portal

    def insert(self, sobject: str, fields: dict[str, object]) -> str:
        translate: Mapping[str, Callable[[dict[str, object]], str]] = {
            "User": self._user,
            "Account": self._account,
            "Opportunity": self._opportunity,
            "Contact": self._contact,
            "Event": self._event,
        }
        if sobject not in translate:
            raise SeedError(f"no HubSpot translation for Salesforce object {sobject}")
        return translate[sobject](dict(fields))

    def _user(self, fields: dict[str, object]) -> str:
        values = _Fields("User", fields)
        active = values.take("IsActive", lambda v: v is True or v is False, default=True)
        values.take("Title")  # owners have no title
        owner = self.portal.add_owner(
            str(values.take("Email")),
            str(values.take("FirstName")),
            str(values.take("LastName")),
            archived=not active,
        )
        values.done()
        return owner

    def _account(self, fields: dict[str, object]) -> str:
        values = _Fields("Account", fields)
        properties = {
            "name": values.text("Name"),
            "lifecyclestage": values.mapped("Type", LIFECYCLE),
            "hubspot_owner_id": values.text("OwnerId"),
            "cs_csm_owner_id": values.text("CSM__c"),
            "industry": values.mapped("Industry", INDUSTRY),
            "cs_contract_start_date": values.text("Contract_Start_Date__c"),
            "cs_product_tenant_id": values.text("Product_Tenant_Id__c"),
            "cs_language": values.text("Language__c"),
        }
        values.done()
        return self.portal.insert("companies", _present(properties))

    def _opportunity(self, fields: dict[str, object]) -> str:
        values = _Fields("Opportunity", fields)
        account = values.text("AccountId")
        close = values.text("CloseDate")
        properties = {
            "dealname": values.text("Name"),
            "dealtype": values.mapped("Type", DEAL_TYPE),
            "dealstage": values.mapped("StageName", DEAL_STAGE),
            "amount": values.number("Amount"),
            "hubspot_owner_id": values.text("OwnerId"),
            "closedate": _midnight(close) if close else None,
            "pipeline": "default",
        }
        values.done()
        links = [("companies", account)] if account else []
        return self.portal.insert("deals", _present(properties), links)

    def _contact(self, fields: dict[str, object]) -> str:
        values = _Fields("Contact", fields)
        account = values.text("AccountId")
        properties = {
            "firstname": values.text("FirstName"),
            "lastname": values.text("LastName"),
            "email": values.text("Email"),
            "jobtitle": values.text("Title"),
            "cs_role": values.text("CS_Role__c"),
            "cs_primary": values.flag("IsPrimary__c"),
            "hs_email_optout": values.flag("HasOptedOutOfEmail"),
        }
        values.done()
        links = [("companies", account)] if account else []
        return self.portal.insert("contacts", _present(properties), links)

    def _event(self, fields: dict[str, object]) -> str:
        values = _Fields("Event", fields)
        values.take("Type", lambda v: v == "Meeting", default="Meeting")
        values.take("ActivityDate")  # the start's date, which hs_timestamp already carries
        start = values.text("StartDateTime")
        properties = {
            "hs_meeting_title": values.text("Subject"),
            "hs_timestamp": start,
            "hs_meeting_start_time": start,
            "hs_meeting_end_time": values.text("EndDateTime"),
            "hubspot_owner_id": values.text("OwnerId"),
            "hs_meeting_outcome": "COMPLETED",
        }
        links = [("companies", values.text("WhatId")), ("contacts", values.text("WhoId"))]
        values.done()
        return self.portal.insert("meetings", _present(properties), [(t, i) for t, i in links if i])


class _Fields:
    """The fields of one insert, taken one by one, so any left over is reported."""

    def __init__(self, sobject: str, fields: dict[str, object]) -> None:
        self.sobject = sobject
        self.fields = fields

    def take(
        self,
        name: str,
        accept: Callable[[object], bool] = lambda value: True,
        default: object = None,
    ) -> object:
        value = self.fields.pop(name, default)
        if value is not None and not accept(value):
            raise SeedError(f"cannot translate {self.sobject}.{name} = {value!r} to HubSpot")
        return value

    def text(self, name: str) -> str | None:
        value = self.take(name, lambda v: isinstance(v, str))
        return None if value is None else str(value)

    def mapped(self, name: str, table: Mapping[str, str]) -> str | None:
        value = self.take(name, lambda v: v in table)
        return None if value is None else table[str(value)]

    def number(self, name: str) -> str | None:
        value = self.take(name, lambda v: isinstance(v, int | float) and not isinstance(v, bool))
        if not isinstance(value, int | float):
            return None
        return str(int(value)) if float(value).is_integer() else repr(float(value))

    def flag(self, name: str) -> str | None:
        value = self.take(name, lambda v: isinstance(v, bool))
        return None if value is None else str(value).lower()

    def done(self) -> None:
        if self.fields:
            names = ", ".join(sorted(self.fields))
            raise SeedError(f"no HubSpot translation for {self.sobject} field(s) {names}")


def _midnight(day: str) -> str:
    return iso_millis(datetime.combine(date.fromisoformat(day), time(0), UTC))


def _present(properties: Mapping[str, str | None]) -> dict[str, str]:
    return {name: value for name, value in properties.items() if value is not None}
