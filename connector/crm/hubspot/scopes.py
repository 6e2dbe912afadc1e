"""The private app scopes the worker needs, each with what it is for: `doctor` compares them
with the token's, and the README lists them for the admin who creates the app.

Tasks, meetings and logged emails are engagements, which HubSpot guards with the contacts
scopes (its tasks API reference lists crm.objects.contacts.read and .write).
"""

from __future__ import annotations

REQUIRED_SCOPES: dict[str, str] = {
    "crm.objects.companies.read": "read companies",
    "crm.objects.companies.write": "write scores and rule fields to companies",
    "crm.objects.deals.read": "read deals (renewals, ARR, expansions)",
    "crm.objects.contacts.read": "read contacts, meetings and the worker's own tasks",
    "crm.objects.contacts.write": "create tasks and log sent emails",
    "crm.objects.owners.read": "read owners (task assignees, email senders)",
    "crm.schemas.companies.read": "read company property definitions",
    "crm.schemas.deals.read": "read deal property definitions",
    "crm.schemas.contacts.read": "read contact property definitions",
}
APPLY_SCOPES: dict[str, str] = {
    "crm.schemas.companies.write": "create the company properties (`doctor --apply` only)",
}
