"""AS_OF_DATE moves a mapping's relative date filter with it: on Salesforce a SOQL literal
(LAST_N_DAYS:30) is rewritten as bounds counted from that day, on HubSpot the filter counts
from `run_date`. Read through the real clients from the sandbox org and portal."""

from __future__ import annotations

from contextlib import closing
from datetime import timedelta

from connector.config.load import load_config
from connector.crm.connect import connect
from connector.frame.rollups import local_date
from connector.sandbox.demo import RunningSandbox
from tests.e2e.conftest import AS_OF, SandboxCrm

WINDOW = 30  # days
WHERE = {
    "salesforce": f"StartDateTime = LAST_N_DAYS:{WINDOW}",
    "hubspot": f"hs_meeting_start_time >= run_date - INTERVAL '{WINDOW} days' "
    "AND hs_meeting_start_time < run_date + INTERVAL '1 day'",
}


def test_a_relative_date_filter_counts_from_as_of_date(crm: SandboxCrm) -> None:
    dated = crm.sandbox.settings.model_copy(update={"as_of_date": AS_OF - timedelta(days=45)})
    mapping = load_config(dated.mappings_dir, dated.playbooks_dir, dated.crm).mapping
    assert mapping.meeting is not None
    every = mapping.meeting.model_copy(update={"where": None})
    last_days = mapping.meeting.model_copy(update={"where": WHERE[crm.name]})

    with closing(connect(dated, mapping)) as adapter:
        assert adapter.check_mapping(mapping.model_copy(update={"meeting": last_days})) == []
        meetings = adapter.read(every, {})
        kept = adapter.read(last_days, {})

    day = local_date("start", meetings.schema["start"], dated.schedule_timezone)
    first = dated.today - timedelta(days=WINDOW)
    expected = meetings.filter(day.is_between(first, dated.today))
    not_shifted = meetings.filter(day.is_between(AS_OF - timedelta(days=WINDOW), AS_OF))
    assert sorted(kept["id"]) == sorted(expected["id"])
    assert expected.height > 0
    assert set(expected["id"]) != set(not_shifted["id"])  # the org's today would read these


def test_a_literal_counted_in_months_is_refused_at_its_mapping_line(
    sandbox: RunningSandbox,
) -> None:
    dated = sandbox.settings.model_copy(update={"as_of_date": AS_OF})
    mapping = load_config(dated.mappings_dir, dated.playbooks_dir, dated.crm).mapping
    assert mapping.meeting is not None
    monthly = mapping.meeting.model_copy(update={"where": "StartDateTime = LAST_MONTH"})
    with closing(connect(dated, mapping)) as adapter:
        (problem,) = adapter.check_mapping(mapping.model_copy(update={"meeting": monthly}))
    assert problem.loc == ("meeting", "where")
    assert "'LAST_MONTH' counts in weeks, months or years" in problem.message
