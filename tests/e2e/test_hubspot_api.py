"""HubSpotClient against the sandbox portal: limits HubSpot puts on single calls."""

from __future__ import annotations

import pytest
from hubspot.crm.objects.models import Filter, FilterGroup

from connector.crm.hubspot import client as hubspot_api
from connector.crm.hubspot.client import HubSpotClient
from connector.crm.protocol import ApiUsage
from connector.sandbox.demo import RunningSandbox
from connector.sandbox.hubspot import search as sandbox_search


def test_search_goes_past_the_cap_on_results_by_restarting_above_the_last_id(
    hubspot: RunningSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    # HubSpot's cap is 10,000; a cap of 1,000 on both sides shows the same thing faster.
    monkeypatch.setattr(sandbox_search, "MAX_REACHABLE", 1_000)
    monkeypatch.setattr(hubspot_api, "SEARCH_REACHABLE", 1_000)
    inserted = {
        hubspot.portal.insert(
            "tasks",
            {
                "hs_task_subject": f"Task {n}",
                "hs_timestamp": "2026-11-23T00:00:00Z",
                "cs_action_key": f"bulk:1:{n:016x}",
            },
        )
        for n in range(1_150)
    }
    usage = ApiUsage()
    api = HubSpotClient(hubspot.settings, usage)
    keyed = FilterGroup(filters=[Filter(property_name="cs_action_key", operator="HAS_PROPERTY")])

    found = [str(task.id) for task in api.search("tasks", [keyed], ["cs_action_key"])]
    api.close()

    assert sorted(found) == sorted(inserted)
    assert len(found) == len(set(found))
    assert (
        hubspot.portal.count_calls("objects.search") == usage.calls == 6
    )  # 5 pages to the cap, then 1


def test_searches_are_paced_to_the_search_limit(hubspot: RunningSandbox) -> None:
    usage = ApiUsage()
    api = HubSpotClient(hubspot.settings, usage)
    keyed = FilterGroup(filters=[Filter(property_name="cs_action_key", operator="HAS_PROPERTY")])

    for _ in range(9):
        assert list(api.search("tasks", [keyed], ["cs_action_key"])) == []
    api.close()

    assert [c.status for c in hubspot.portal.calls] == [200] * 9
    assert usage.rate_limit_wait_seconds >= 1.0  # 9 searches at 4 a second take two seconds
