"""A running sandbox (Salesforce org or HubSpot portal, usage API, Slack, SMTP) per test.

`crm` runs a test once per CRM: a `SandboxCrm` is how a test looks into either sandbox
(customers, tasks, call log) and arranges its faults, with what differs between the two
platforms (batch maximum, status words, error sentences) as data, so a contract test's body
reads the same for Salesforce and HubSpot.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any, ClassVar, Protocol, cast

import pytest
import requests
import yaml
from hubspot import HubSpot
from hubspot.crm.objects.models import (
    BatchInputSimplePublicObjectBatchInput,
    SimplePublicObjectBatchInput,
)
from simple_salesforce.api import Salesforce, SFType

from connector.crm.protocol import TaskIntent
from connector.sandbox.demo import SANDBOX_CRMS, RunningSandbox, running_sandbox
from connector.sandbox.salesforce.schema import without_fields
from connector.settings import CrmName, Settings

ROOT = Path(__file__).resolve().parents[2]
AS_OF = date(2026, 11, 23)
CUSTOMERS = 60
OUTAGE_CALLS = 100  # refusals in an injected outage: more than any run's retries


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the shipped mappings/ and playbooks/ that a test may edit."""
    for name in ("mappings", "playbooks"):
        shutil.copytree(ROOT / name, tmp_path / "project" / name)
    return tmp_path / "project"


@pytest.fixture
def sandbox(tmp_path: Path, project: Path) -> Iterator[RunningSandbox]:
    with running_sandbox(
        tmp_path / "state", as_of=AS_OF, customers=CUSTOMERS, project_dir=project
    ) as running:
        yield running


@pytest.fixture
def hubspot(tmp_path: Path, project: Path) -> Iterator[RunningSandbox]:
    with running_sandbox(
        tmp_path / "hubspot", crm="hubspot", as_of=AS_OF, customers=CUSTOMERS, project_dir=project
    ) as running:
        yield running


@pytest.fixture(params=SANDBOX_CRMS)
def crm_name(request: pytest.FixtureRequest) -> CrmName:
    """Each CRM in turn: a test that takes it (or `crm`) is run once per CRM."""
    name: CrmName = request.param
    return name


@pytest.fixture
def crm_sandbox(tmp_path: Path, project: Path, crm_name: CrmName) -> Iterator[RunningSandbox]:
    with running_sandbox(
        tmp_path / crm_name, crm=crm_name, as_of=AS_OF, customers=CUSTOMERS, project_dir=project
    ) as running:
        yield running


@pytest.fixture
def crm(crm_sandbox: RunningSandbox) -> SandboxCrm:
    return sandbox_crm(crm_sandbox)


def cli_env(sandbox: RunningSandbox) -> dict[str, str]:
    """The environment a platform engineer would set to point the CLI at this sandbox."""
    s = sandbox.settings
    assert s.usage_api_token is not None
    common = {
        "CRM": s.crm,
        "USAGE_API_URL": str(s.usage_api_url),
        "USAGE_API_TOKEN": s.usage_api_token.get_secret_value(),
        "CA_BUNDLE": str(s.ca_bundle),
        "AS_OF_DATE": AS_OF.isoformat(),
        "MAPPINGS_DIR": str(s.mappings_dir),
        "PLAYBOOKS_DIR": str(s.playbooks_dir),
        "STATE_DATABASE_URL": s.state_database_url.get_secret_value(),
        **slack_env(s),
    }
    if s.crm == "hubspot":
        assert s.hubspot_access_token is not None
        return {
            **common,
            "HUBSPOT_URL": s.hubspot_url,
            "HUBSPOT_ACCESS_TOKEN": s.hubspot_access_token.get_secret_value(),
            "HUBSPOT_PORTAL_ID": str(s.hubspot_portal_id),
        }
    assert s.salesforce_client_secret is not None
    return {
        **common,
        "SALESFORCE_URL": str(s.salesforce_url),
        "SALESFORCE_CLIENT_ID": str(s.salesforce_client_id),
        "SALESFORCE_CLIENT_SECRET": s.salesforce_client_secret.get_secret_value(),
    }


def slack_env(settings: Settings) -> dict[str, str]:
    """The Slack bot's settings as environment variables (the sandbox's own token)."""
    if settings.slack_bot_token is None or settings.slack_channel is None:
        return {}
    return {
        "SLACK_BOT_TOKEN": settings.slack_bot_token.get_secret_value(),
        "SLACK_CHANNEL": settings.slack_channel,
        "SLACK_API_URL": settings.slack_api_url,
    }


def without_email(settings: Settings) -> Settings:
    """Without an SMTP relay: only the rule tasks are created, in as few batches as they fit."""
    return settings.model_copy(update={"smtp_host": None})


def without_daily_limit(settings: Settings) -> Settings:
    """Every task the rules want in one run (TASKS_PER_OWNER_PER_DAY=0): for tests of batches,
    ledgers and parity, which need more tasks than a day's limit lets through."""
    return settings.model_copy(update={"tasks_per_owner_per_day": 0})


def salesforce_client(sandbox: RunningSandbox) -> Salesforce:
    """The real client, as a Salesforce admin's script would use it against the sandbox."""
    session = requests.Session()
    session.verify = sandbox.settings.verify
    session.trust_env = False  # REQUESTS_CA_BUNDLE would override `verify`
    return Salesforce(
        instance_url=sandbox.settings.salesforce_url,
        session_id=sandbox.org.issue_token(),
        version="60.0",
        session=session,
    )


def hubspot_client(sandbox: RunningSandbox) -> HubSpot:
    """The real client, as a HubSpot admin's script would use it against the sandbox."""
    s = sandbox.settings
    assert s.hubspot_access_token is not None
    return HubSpot(
        access_token=s.hubspot_access_token.get_secret_value(),
        host=s.hubspot_url,
        ssl_ca_cert=str(s.ca_bundle),
    )


@cache
def shipped_mapping(crm: CrmName) -> Mapping[str, Any]:
    """`mappings/<crm>.yaml` as shipped: which CRM field holds which canonical column."""
    loaded: Mapping[str, Any] = yaml.safe_load((ROOT / "mappings" / f"{crm}.yaml").read_text())
    return loaded


# -- what a test sees of either CRM ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CrmAccount:
    """A customer account; `results` holds what the worker writes, by canonical name
    (`health_score` → 53.5, `journey_stage_since` → "2026-11-23"), None where empty."""

    id: str
    name: str
    owner_id: str
    csm_id: str | None
    tenant_id: str
    results: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class CrmTask:
    """A task carrying an action key, in the CRM's own status and priority words."""

    id: str
    key: str
    account_id: str
    owner_id: str
    subject: str
    due: date
    status: str
    priority: str
    is_email_log: bool


class SandboxCrm(Protocol):
    """One sandbox CRM as a contract test sees it. The class variables are the platform's
    facts; the methods read the sandbox directly or go through the vendor's own client."""

    name: ClassVar[CrmName]
    max_write_batch: ClassVar[int]  # records per update or create call
    task_not_started: ClassVar[str]
    task_completed: ClassVar[str]
    high_priority: ClassVar[str]
    rejected_code: ClassVar[str]  # the error code of a record refused by the CRM's validation
    partial_write_status: ClassVar[int]  # the HTTP status of a batch with refused records
    budget_used_up: ClassVar[str]  # the sentence fragment for an exhausted daily API budget
    url_setting: ClassVar[str]
    secret_fragment: ClassVar[str]  # part of the sandbox's credential: never in any output
    no_such_field: ClassVar[str]  # "... '{field}'", as validation says it of the account
    no_such_object: ClassVar[str]  # "... '{object}'"

    @property
    def sandbox(self) -> RunningSandbox: ...
    # what is in the CRM
    def account_records(self) -> list[dict[str, Any]]: ...  # every account, as stored
    def customers(self) -> list[CrmAccount]: ...
    def tasks(self) -> list[CrmTask]: ...  # keyed tasks, in creation order
    def record_url(self, account_id: str) -> str: ...  # where a link to the account goes
    def senders(self) -> dict[str, str]: ...  # user id → the From their emails carry

    # what a user or an outage does to it
    def complete_task(self, task: CrmTask) -> None: ...  # as the CSM would, through the API
    def win_renewal(self, account_id: str, on: date) -> float: ...  # closes it won; its amount
    def lose_renewal(self, account_id: str, on: date) -> None: ...  # closes it lost
    def move_renewal(self, account_id: str, to: date) -> None: ...  # its close date slips
    def opt_out_decision_makers(self, account_id: str) -> None: ...
    def refuse_value(self, result: str, value: str) -> None: ...  # reject accounts set to it
    def drop_create_answer(self) -> None: ...  # the next task create is done, its answer lost
    def drop_update_answer(self) -> None: ...  # the same for the next account update
    def fail_updates_after(self, batches: int) -> None: ...  # an outage: every later one 503s
    def exhaust_api_budget(self) -> None: ...
    def remove_result_field(self, result: str) -> str: ...  # returns the field's CRM name

    # the call log
    def calls(self) -> int: ...
    def read_calls(self) -> int: ...  # record reads (queries, pages, searches)
    def write_calls(self) -> int: ...  # anything that changes the CRM
    def write_batches(self) -> list[tuple[str, int]]: ...  # ("update" | "create", records)
    def update_statuses(self) -> list[int]: ...  # the HTTP status of each account update
    def budget_refusals(self) -> int: ...  # calls refused because the daily budget is used up
    def reset_calls(self) -> None: ...


def sandbox_crm(sandbox: RunningSandbox) -> SandboxCrm:
    return CRMS[sandbox.settings.crm](sandbox)


def _result_fields(crm: CrmName) -> Mapping[str, str]:
    """Canonical result name → the CRM field the worker writes it to."""
    fields: Mapping[str, str] = shipped_mapping(crm)["results"]
    return fields


def _account(crm: CrmName, values: Mapping[str, Any], results: Mapping[str, Any]) -> CrmAccount:
    """An account from its field values, read through the shipped mapping's field names."""
    field: Mapping[str, str] = shipped_mapping(crm)["account"]["fields"]
    return CrmAccount(
        id=str(values[field["id"]]),
        name=str(values[field["name"]]),
        owner_id=str(values[field["owner_id"]]),
        csm_id=values.get(field["csm_id"]),
        tenant_id=str(values[field["tenant_id"]]),
        results=results,
    )


@dataclass(frozen=True)
class SalesforceCrm:
    sandbox: RunningSandbox

    name: ClassVar[CrmName] = "salesforce"
    max_write_batch: ClassVar[int] = 200  # sObject Collections
    task_not_started: ClassVar[str] = "Not Started"
    task_completed: ClassVar[str] = "Completed"
    high_priority: ClassVar[str] = "High"
    rejected_code: ClassVar[str] = "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    partial_write_status: ClassVar[int] = 200  # allOrNone=false: per-record results
    budget_used_up: ClassVar[str] = "The org's daily API budget is used up"
    url_setting: ClassVar[str] = "SALESFORCE_URL"
    secret_fragment: ClassVar[str] = "demo-secret"
    no_such_field: ClassVar[str] = "Account has no field '{field}'"
    no_such_object: ClassVar[str] = "Salesforce has no object '{object}'"

    _UPDATES: ClassVar[str] = "composite/sobjects"
    _UPSERTS: ClassVar[str] = "composite/sobjects/Task/CS_Action_Key__c"

    def account_records(self) -> list[dict[str, Any]]:
        return self.sandbox.org.records("Account")

    def customers(self) -> list[CrmAccount]:
        results = _result_fields(self.name)
        return [
            _account(self.name, a, {name: a[field] for name, field in results.items()})
            for a in self.account_records()
            if a["Type"] == "Customer"
        ]

    def tasks(self) -> list[CrmTask]:
        return [
            CrmTask(
                id=t["Id"],
                key=t["CS_Action_Key__c"],
                account_id=t["WhatId"],
                owner_id=t["OwnerId"],
                subject=t["Subject"],
                due=date.fromisoformat(t["ActivityDate"]),
                status=t["Status"],
                priority=t["Priority"],
                is_email_log=t["Type"] == "Email",
            )
            for t in self.sandbox.org.records("Task")
            if t.get("CS_Action_Key__c")
        ]

    def complete_task(self, task: CrmTask) -> None:
        tasks = cast(SFType, salesforce_client(self.sandbox).Task)  # not the Bulk APIs
        tasks.update(task.id, {"Status": self.task_completed})

    def win_renewal(self, account_id: str, on: date) -> float:
        renewal = self._open_renewal(account_id)
        opportunities = cast(SFType, salesforce_client(self.sandbox).Opportunity)
        opportunities.update(renewal["Id"], {"StageName": "Closed Won", "CloseDate": str(on)})
        return float(renewal["Amount"])

    def lose_renewal(self, account_id: str, on: date) -> None:
        renewal = self._open_renewal(account_id)
        opportunities = cast(SFType, salesforce_client(self.sandbox).Opportunity)
        opportunities.update(renewal["Id"], {"StageName": "Closed Lost", "CloseDate": str(on)})

    def move_renewal(self, account_id: str, to: date) -> None:
        opportunities = cast(SFType, salesforce_client(self.sandbox).Opportunity)
        opportunities.update(self._open_renewal(account_id)["Id"], {"CloseDate": str(to)})

    def _open_renewal(self, account_id: str) -> dict[str, Any]:
        (renewal,) = [
            o
            for o in self.sandbox.org.records("Opportunity")
            if o["AccountId"] == account_id and o["Type"] == "Renewal" and not o["IsClosed"]
        ]
        return renewal

    def opt_out_decision_makers(self, account_id: str) -> None:
        contacts = cast(SFType, salesforce_client(self.sandbox).Contact)
        for contact in self.sandbox.org.records("Contact"):
            if contact["AccountId"] == account_id and contact["CS_Role__c"] == "Decision Maker":
                contacts.update(contact["Id"], {"HasOptedOutOfEmail": True})

    def senders(self) -> dict[str, str]:
        return {
            u["Id"]: f"{u['FirstName']} {u['LastName']} <{u['Email']}>"
            for u in self.sandbox.org.records("User")
        }

    def record_url(self, account_id: str) -> str:
        return f"{self.sandbox.settings.salesforce_url}/lightning/r/Account/{account_id}/view"

    def refuse_value(self, result: str, value: str) -> None:
        """A validation rule refusing any account that would be saved with this value."""
        field = _result_fields(self.name)[result]
        self.sandbox.org.add_validation_rule(
            "Account",
            "No_" + value,
            lambda record: record[field] == value,
            f"{value} accounts need a CS review first.",
        )

    def drop_create_answer(self) -> None:
        self.sandbox.org.inject_fault("PATCH", self._UPSERTS + "$", drop_after_commit=True)

    def drop_update_answer(self) -> None:
        self.sandbox.org.inject_fault("PATCH", self._UPDATES + "$", drop_after_commit=True)

    def fail_updates_after(self, batches: int) -> None:
        self.sandbox.org.inject_fault(
            "PATCH", self._UPDATES + "$", status=503, after=batches, times=OUTAGE_CALLS
        )

    def exhaust_api_budget(self) -> None:
        self.sandbox.org.inject_fault("GET", r"/query$", status=403)  # REQUEST_LIMIT_EXCEEDED

    def remove_result_field(self, result: str) -> str:
        """As if the admin had never created the field; returns its API name."""
        org, field = self.sandbox.org, _result_fields(self.name)[result]
        org.schema["Account"] = without_fields(org.schema, {"Account": {field}})["Account"]
        return field

    def calls(self) -> int:
        return len(self.sandbox.org.calls)

    def read_calls(self) -> int:
        return sum(c.method == "GET" and "/query" in c.path for c in self.sandbox.org.calls)

    def write_calls(self) -> int:
        return sum(c.method in ("POST", "PATCH", "DELETE") for c in self.sandbox.org.calls)

    def write_batches(self) -> list[tuple[str, int]]:
        return [
            ("update" if c.path.endswith(self._UPDATES) else "create", c.records)
            for c in self.sandbox.org.calls
            if c.method == "PATCH" and c.path.endswith((self._UPDATES, self._UPSERTS))
        ]

    def update_statuses(self) -> list[int]:
        return [
            c.status
            for c in self.sandbox.org.calls
            if c.method == "PATCH" and c.path.endswith(self._UPDATES)
        ]

    def budget_refusals(self) -> int:
        return sum(c.status == 403 for c in self.sandbox.org.calls)

    def reset_calls(self) -> None:
        self.sandbox.org.reset_calls()


@dataclass(frozen=True)
class HubSpotCrm:
    sandbox: RunningSandbox

    name: ClassVar[CrmName] = "hubspot"
    max_write_batch: ClassVar[int] = 100  # batch/update and batch/create
    task_not_started: ClassVar[str] = "NOT_STARTED"
    task_completed: ClassVar[str] = "COMPLETED"
    high_priority: ClassVar[str] = "HIGH"
    rejected_code: ClassVar[str] = "VALIDATION_ERROR"
    partial_write_status: ClassVar[int] = 207  # multi-status: results and errors
    budget_used_up: ClassVar[str] = "the portal's daily API limit is used up"
    url_setting: ClassVar[str] = "HUBSPOT_URL"
    secret_fragment: ClassVar[str] = "pat-demo"
    no_such_field: ClassVar[str] = "HubSpot companies have no property '{field}'"
    no_such_object: ClassVar[str] = "HubSpot has no object type '{object}'"

    _COMPANY_UPDATES: ClassVar[str] = "/crm/v3/objects/companies/batch/update"
    _TASK_CREATES: ClassVar[str] = "/crm/v3/objects/tasks/batch/create"
    _WRITES: ClassVar[frozenset[str]] = frozenset(
        {
            "objects.batch_update",
            "objects.batch_create",
            "properties.create",
            "properties.create_group",
        }
    )

    def account_records(self) -> list[dict[str, Any]]:
        return self.sandbox.portal.records("companies")

    def customers(self) -> list[CrmAccount]:
        numbers = {
            s.name for s in self.sandbox.portal.property_specs("companies") if s.type == "number"
        }
        customers = []
        for company in self.account_records():
            values = company["properties"]
            if values.get("lifecyclestage") != "customer":
                continue
            results = {}
            for name, field in _result_fields(self.name).items():
                value = values.get(field) or None  # HubSpot shows a cleared value as ""
                results[name] = float(value) if value is not None and field in numbers else value
            customers.append(_account(self.name, values, results))
        return customers

    def tasks(self) -> list[CrmTask]:
        tasks = []
        for task in self.sandbox.portal.records("tasks"):
            p = task["properties"]
            if not p.get("cs_action_key"):
                continue
            (company,) = task["associations"]["companies"]
            tasks.append(
                CrmTask(
                    id=task["id"],
                    key=p["cs_action_key"],
                    account_id=company,
                    owner_id=p["hubspot_owner_id"],
                    subject=p["hs_task_subject"],
                    due=date.fromisoformat(p["hs_timestamp"][:10]),  # midnight UTC
                    status=p["hs_task_status"],
                    priority=p["hs_task_priority"],
                    is_email_log=p["hs_task_type"] == "EMAIL",
                )
            )
        return tasks

    def complete_task(self, task: CrmTask) -> None:
        done = SimplePublicObjectBatchInput(
            id=task.id, properties={"hs_task_status": self.task_completed}
        )
        hubspot_client(self.sandbox).crm.objects.batch_api.update(
            "tasks", BatchInputSimplePublicObjectBatchInput(inputs=[done])
        )

    def win_renewal(self, account_id: str, on: date) -> float:
        renewal = self._close_renewal(account_id, "closedwon", on)
        return float(renewal["properties"]["amount"])

    def lose_renewal(self, account_id: str, on: date) -> None:
        self._close_renewal(account_id, "closedlost", on)

    def _close_renewal(self, account_id: str, stage: str, on: date) -> dict[str, Any]:
        (renewal,) = [
            d
            for d in self.sandbox.portal.records("deals")
            if d["associations"].get("companies") == [account_id]
            and d["properties"]["dealtype"] == "renewal"
            and d["properties"]["hs_is_closed"] == "false"
        ]
        closed = SimplePublicObjectBatchInput(
            id=renewal["id"], properties={"dealstage": stage, "closedate": str(on)}
        )
        hubspot_client(self.sandbox).crm.objects.batch_api.update(
            "deals", BatchInputSimplePublicObjectBatchInput(inputs=[closed])
        )
        return renewal

    def move_renewal(self, account_id: str, to: date) -> None:
        (renewal,) = [
            d
            for d in self.sandbox.portal.records("deals")
            if d["associations"].get("companies") == [account_id]
            and d["properties"]["dealtype"] == "renewal"
            and d["properties"]["hs_is_closed"] == "false"
        ]
        moved = SimplePublicObjectBatchInput(id=renewal["id"], properties={"closedate": str(to)})
        hubspot_client(self.sandbox).crm.objects.batch_api.update(
            "deals", BatchInputSimplePublicObjectBatchInput(inputs=[moved])
        )

    def opt_out_decision_makers(self, account_id: str) -> None:
        opted = [
            SimplePublicObjectBatchInput(id=c["id"], properties={"hs_email_optout": "true"})
            for c in self.sandbox.portal.records("contacts")
            if c["associations"].get("companies") == [account_id]
            and c["properties"].get("cs_role") == "Decision Maker"
        ]
        hubspot_client(self.sandbox).crm.objects.batch_api.update(
            "contacts", BatchInputSimplePublicObjectBatchInput(inputs=opted)
        )

    def senders(self) -> dict[str, str]:
        return {
            o["id"]: f"{o['firstName']} {o['lastName']} <{o['email']}>"
            for o in self.sandbox.portal.owners()
        }

    def record_url(self, account_id: str) -> str:
        portal_id = self.sandbox.settings.hubspot_portal_id
        return f"https://app.hubspot.com/contacts/{portal_id}/record/0-2/{account_id}"

    def refuse_value(self, result: str, value: str) -> None:
        """The option is taken off the enumeration property, so HubSpot refuses it."""
        portal, field = self.sandbox.portal, _result_fields(self.name)[result]
        spec = next(s for s in portal.property_specs("companies") if s.name == field)
        portal.remove_property("companies", field)
        kept = tuple(o for o in spec.options if o.value != value)
        portal.add_property("companies", replace(spec, options=kept))

    def drop_create_answer(self) -> None:
        self.sandbox.portal.drop_after_commit("POST", self._TASK_CREATES)

    def drop_update_answer(self) -> None:
        self.sandbox.portal.drop_after_commit("POST", self._COMPANY_UPDATES)

    def fail_updates_after(self, batches: int) -> None:
        self.sandbox.portal.fail_next(
            "POST", self._COMPANY_UPDATES, 503, after=batches, times=OUTAGE_CALLS
        )

    def exhaust_api_budget(self) -> None:
        self.sandbox.portal.daily_limit = 8  # a run needs more

    def remove_result_field(self, result: str) -> str:
        field = _result_fields(self.name)[result]
        self.sandbox.portal.remove_property("companies", field)
        return field

    def calls(self) -> int:
        return len(self.sandbox.portal.calls)

    def read_calls(self) -> int:
        return sum(
            c.operation in ("objects.get_page", "objects.search", "objects.batch_read")
            for c in self.sandbox.portal.calls
        )

    def write_calls(self) -> int:
        return sum(c.operation in self._WRITES for c in self.sandbox.portal.calls)

    def write_batches(self) -> list[tuple[str, int]]:
        return [
            ("update" if c.operation == "objects.batch_update" else "create", c.inputs)
            for c in self.sandbox.portal.calls
            if c.path in (self._COMPANY_UPDATES, self._TASK_CREATES)
        ]

    def update_statuses(self) -> list[int]:
        return [c.status for c in self.sandbox.portal.calls if c.path == self._COMPANY_UPDATES]

    def budget_refusals(self) -> int:
        return sum(c.status == 429 for c in self.sandbox.portal.calls)

    def reset_calls(self) -> None:
        self.sandbox.portal.reset_log()


CRMS: Mapping[CrmName, type[SalesforceCrm] | type[HubSpotCrm]] = {
    "salesforce": SalesforceCrm,
    "hubspot": HubSpotCrm,
}


def bulk_task_intents(hubspot: RunningSandbox, count: int, status: str) -> list[TaskIntent]:
    """`count` plain tasks over the portal's owned companies, round robin, keyed `bulk:…`."""
    companies = [
        c for c in hubspot.portal.records("companies") if c["properties"].get("hubspot_owner_id")
    ]
    return [
        TaskIntent(
            key=f"bulk:{company['id']}:{n:016x}",
            rule_id="bulk",
            account_id=company["id"],
            account_name=company["properties"]["name"],
            assignee_id=company["properties"]["hubspot_owner_id"],
            subject=f"Task {n}",
            description="",
            due_date=AS_OF,
            priority="Normal",
            status=status,
        )
        for n, company in zip(range(count), companies * (count // len(companies) + 1), strict=False)
    ]
