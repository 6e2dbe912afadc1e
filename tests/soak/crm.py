"""What the customers' CSMs and RevOps do in the sandbox org between runs, through the real
simple-salesforce client as their scripts and the Salesforce UI would; and what the org holds,
read directly for the checks."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date
from typing import Any, cast

from simple_salesforce.api import Salesforce, SFType

from connector.sandbox.demo import RunningSandbox
from connector.sandbox.demo_company import add_months
from tests.e2e.conftest import salesforce_client
from tests.soak.script import Customer, Renewal, Slip


@dataclass
class SoakOrg:
    sandbox: RunningSandbox

    def __post_init__(self) -> None:
        self._api: Salesforce = salesforce_client(self.sandbox)

    def _object(self, name: str) -> SFType:
        return cast(SFType, getattr(self._api, name))

    # -- what is in the org -----------------------------------------------------------------

    def accounts(self) -> dict[str, dict[str, Any]]:
        """Customer accounts by Id."""
        return {a["Id"]: a for a in self.sandbox.org.records("Account") if a["Type"] == "Customer"}

    def tasks(self) -> list[dict[str, Any]]:
        """Tasks carrying an action key (the worker's), in creation order."""
        return [t for t in self.sandbox.org.records("Task") if t.get("CS_Action_Key__c")]

    def opportunities(self) -> list[dict[str, Any]]:
        return self.sandbox.org.records("Opportunity")

    def csms(self) -> list[str]:
        return [
            u["Id"]
            for u in self.sandbox.org.records("User")
            if u.get("Title", "").startswith("Customer Success")
        ]

    def customers(self) -> list[Customer]:
        renewals = {
            o["AccountId"]: o
            for o in self.opportunities()
            if o["Type"] == "Renewal" and not o["IsClosed"]
        }
        return [
            Customer(
                a["Id"],
                a["Name"],
                a["Product_Tenant_Id__c"],
                a["OwnerId"],
                renewals[a["Id"]]["Id"],
                date.fromisoformat(renewals[a["Id"]]["CloseDate"]),
                float(renewals[a["Id"]]["Amount"]),
            )
            for a in self.accounts().values()
        ]

    def open_renewal(self, account_id: str) -> str | None:
        return next(
            (
                o["Id"]
                for o in self.opportunities()
                if o["AccountId"] == account_id and o["Type"] == "Renewal" and not o["IsClosed"]
            ),
            None,
        )

    # -- what people do ---------------------------------------------------------------------

    def csms_work(
        self, rng: random.Random, completes: float, deletes: float
    ) -> tuple[int, set[str]]:
        """Each open task is completed with chance `completes`, deleted with `deletes`.
        Returns how many were completed and the keys deleted."""
        completed, deleted = 0, set()
        for task in self.tasks():
            if task["IsClosed"] or task["Type"] == "Email":
                continue
            draw = rng.random()
            if draw < deletes:
                self._object("Task").delete(task["Id"])
                deleted.add(task["CS_Action_Key__c"])
            elif draw < deletes + completes:
                self._object("Task").update(task["Id"], {"Status": "Completed"})
                completed += 1
        return completed, deleted

    def close_renewal(self, renewal: Renewal) -> str | None:
        """Closes it won or lost; a win opens next year's renewal at the new amount (its id
        returned). A lost account stays in the book until RevOps retypes it."""
        opportunities = self._object("Opportunity")
        stage = "Closed Won" if renewal.won else "Closed Lost"
        opportunities.update(
            renewal.opportunity_id,
            {"StageName": stage, "CloseDate": renewal.on.isoformat(), "Amount": renewal.amount},
        )
        if not renewal.won:
            return None
        won = self.sandbox.org.get("Opportunity", renewal.opportunity_id)
        created = opportunities.create(
            {
                "Name": f"{won['Name']} (next year)",
                "AccountId": renewal.account_id,
                "Type": "Renewal",
                "StageName": "Prospecting",
                "Amount": renewal.amount,
                "OwnerId": won["OwnerId"],
                "CloseDate": add_months(renewal.on, 12).isoformat(),
            }
        )
        return str(created["id"])

    def slip(self, slip: Slip) -> None:
        self._object("Opportunity").update(
            slip.opportunity_id, {"CloseDate": slip.close_date.isoformat()}
        )

    def hand_over(self, giver: str, taker: str) -> int:
        """Every account `giver` owns or is CSM of goes to `taker` (a CSM leaving)."""
        moved = 0
        for account in self.accounts().values():
            change = {
                field: taker for field in ("OwnerId", "CSM__c") if account.get(field) == giver
            }
            if change:
                self._object("Account").update(account["Id"], change)
                moved += 1
        return moved
