"""Task look-ups by key are built with simple-salesforce's `format_soql`: values quoted and
escaped by the client library, and a rule id's `_` matched as itself, not LIKE's wildcard."""

from __future__ import annotations

from contextlib import closing

import polars as pl

from connector.checks import load_checked_config
from connector.crm.salesforce.adapter import SalesforceAdapter
from connector.sandbox.demo import RunningSandbox
from tests.e2e.conftest import AS_OF, salesforce_client


def _keyed_tasks(sandbox: RunningSandbox, keys: list[str]) -> None:
    sf = salesforce_client(sandbox)
    account = sandbox.org.records("Account")[0]
    owner = {"OwnerId": account["OwnerId"], "WhatId": account["Id"]}
    for key in keys:
        sf.Task.create({"Subject": "check", **owner, "CS_Action_Key__c": key})


def test_a_rule_ids_underscore_matches_only_an_underscore(sandbox: RunningSandbox) -> None:
    _keyed_tasks(sandbox, ["low_usage:001:w48", "lowXusage:001:w48", "low_usage2:001:w48"])
    config = load_checked_config(sandbox.settings)
    with closing(SalesforceAdapter(sandbox.settings, config.mapping)) as crm:
        found = crm.recent_tasks(["low_usage"], AS_OF)
    assert [task.key for task in found] == ["low_usage:001:w48"]


def test_keys_with_quotes_backslashes_and_newlines_are_found(sandbox: RunningSandbox) -> None:
    odd = ["it's:001:w48", "back\\slash:001:w48", "new\nline:001:w48"]
    _keyed_tasks(sandbox, odd)
    config = load_checked_config(sandbox.settings)
    with closing(SalesforceAdapter(sandbox.settings, config.mapping)) as crm:
        found = crm.find_tasks(pl.Series([*odd, "absent:001:w48"]))
    assert sorted(found) == sorted(odd)
