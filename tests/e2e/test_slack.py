"""Slack posts go to a webhook (a loopback receiver here) once per key, whatever happens."""

from __future__ import annotations

from datetime import timedelta

from connector.run import run_sync
from connector.sandbox.demo import RunningSandbox
from tests.e2e.conftest import AS_OF


def _digests(sandbox: RunningSandbox) -> list[dict[str, object]]:
    return [p for p in sandbox.slack.posts if str(p["text"]).startswith("Accounts needing")]


def test_digest_is_posted_once_per_week(sandbox: RunningSandbox) -> None:
    first = run_sync(sandbox.settings, dry_run=False)
    assert first.summary.slack_posted == len(_digests(sandbox)) == 1
    red = [a for a in sandbox.org.records("Account") if a.get("CS_Health_Color__c") == "Red"]
    assert len(red) == 21  # 20 before the silent customer 050 turned Red
    text = "\n".join(
        b["text"]["text"]
        for b in _digests(sandbox)[0]["blocks"]  # type: ignore[attr-defined]
        if b["type"] == "section"
    )
    assert all(f"/lightning/r/Account/{a['Id']}/view|" in text for a in red)

    again = run_sync(sandbox.settings, dry_run=False)
    assert again.plan.slack == ()
    assert len(_digests(sandbox)) == 1

    next_week = sandbox.settings.model_copy(update={"as_of_date": AS_OF + timedelta(7)})
    run_sync(next_week, dry_run=False)
    assert len(_digests(sandbox)) == 2


def test_dry_run_shows_the_digest_and_posts_nothing(sandbox: RunningSandbox) -> None:
    outcome = run_sync(sandbox.settings, dry_run=True)
    assert [m.key for m in outcome.plan.slack] == ["slack-digest:2026-W48:1"]
    assert sandbox.slack.posts == []


def test_a_refused_post_is_tried_again_on_the_next_run(sandbox: RunningSandbox) -> None:
    sandbox.slack.fail_next(500, times=4)  # every attempt of the first run
    first = run_sync(sandbox.settings, dry_run=False)
    assert (first.summary.slack_posted, first.summary.slack_failed) == (0, 1)
    second = run_sync(sandbox.settings, dry_run=False)
    assert second.summary.slack_posted == 1
    assert len(_digests(sandbox)) == 1


def test_a_lost_answer_is_never_posted_twice(sandbox: RunningSandbox) -> None:
    sandbox.slack.drop_next()
    first = run_sync(sandbox.settings, dry_run=False)
    assert first.summary.slack_unknown == 1
    assert len(_digests(sandbox)) == 1  # it did arrive
    second = run_sync(sandbox.settings, dry_run=False)
    assert second.plan.held == ("slack-digest:2026-W48:1",)
    assert len(_digests(sandbox)) == 1
