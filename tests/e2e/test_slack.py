"""Slack posts go once per key, whatever happens: through a bot token (Slack's Web API, the
sandbox's loopback stand-in) even when the history store is lost, and through an incoming
webhook while the store is kept."""

from __future__ import annotations

import base64
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from connector.cli import app
from connector.errors import SlackUnavailable
from connector.messages.slack import SlackMessage
from connector.messages.slack_api import SlackBot
from connector.run import run_sync
from connector.sandbox.demo import RunningSandbox
from connector.sandbox.slack_receiver import WEBHOOK
from connector.settings import Settings
from tests.e2e.conftest import AS_OF, cli_env

DIGEST = "slack-digest:2026-W48:1"
POST, HISTORY = "chat.postMessage", "conversations.history"


def _digests(sandbox: RunningSandbox) -> list[dict[str, Any]]:
    return [p for p in sandbox.slack.posts if str(p["text"]).startswith("Accounts needing")]


def _store_lost(settings: Settings, tmp_path: Path, name: str = "lost") -> Settings:
    """The same deployment on an empty history store (a CronJob without a volume)."""
    url = SecretStr(f"sqlite:///{tmp_path / f'{name}.db'}")
    return settings.model_copy(update={"state_database_url": url})


def _webhook(sandbox: RunningSandbox) -> Settings:
    """The same deployment posting through the channel's incoming webhook instead."""
    return sandbox.settings.model_copy(
        update={"slack_bot_token": None, "slack_webhook_url": sandbox.slack_webhook_url}
    )


def _statuses(sandbox: RunningSandbox, endpoint: str) -> list[int]:
    return [call.status for call in sandbox.slack.calls_to(endpoint)]


# -- a bot token: each post once, found again in the channel ----------------------------------


def test_each_post_carries_its_key_in_message_metadata(sandbox: RunningSandbox) -> None:
    first = run_sync(sandbox.settings, dry_run=False)
    assert first.summary.slack_posted == len(_digests(sandbox)) == 1
    (posted,) = sandbox.slack.channel.messages
    assert posted["metadata"] == {
        "event_type": "cs_connector_post",
        "event_payload": {"key": DIGEST},
    }
    assert posted["bot_id"] == "B0DEMOBOT1"
    assert len(posted["blocks"]) == len(_digests(sandbox)[0]["blocks"])
    (read,) = sandbox.slack.calls_to(HISTORY)  # a key the ledger did not know: looked for first
    assert (read.args["include_all_metadata"], read.args["limit"]) == ("1", "200")


def test_digest_is_posted_once_per_week(sandbox: RunningSandbox) -> None:
    run_sync(sandbox.settings, dry_run=False)
    red = [a for a in sandbox.org.records("Account") if a.get("CS_Health_Color__c") == "Red"]
    assert len(red) == 21  # 20 before the silent customer 050 turned Red
    text = "\n".join(
        b["text"]["text"] for b in _digests(sandbox)[0]["blocks"] if b["type"] == "section"
    )
    assert all(f"/lightning/r/Account/{a['Id']}/view|" in text for a in red)
    calls = len(sandbox.slack.calls)

    again = run_sync(sandbox.settings, dry_run=False)
    assert again.plan.slack == ()
    assert len(_digests(sandbox)) == 1
    assert len(sandbox.slack.calls) == calls  # the ledger knows every key: Slack is not asked

    next_week = sandbox.settings.model_copy(update={"as_of_date": AS_OF + timedelta(7)})
    run_sync(next_week, dry_run=False)
    assert len(_digests(sandbox)) == 2


def test_dry_run_shows_the_digest_and_posts_nothing(sandbox: RunningSandbox) -> None:
    outcome = run_sync(sandbox.settings, dry_run=True)
    assert [m.key for m in outcome.plan.slack] == [DIGEST]
    assert sandbox.slack.posts == []
    assert sandbox.slack.calls == []


def test_with_a_bot_a_lost_store_posts_nothing_again(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    run_sync(sandbox.settings, dry_run=False)
    lost = _store_lost(sandbox.settings, tmp_path)

    rerun = run_sync(lost, dry_run=False)
    assert [m.key for m in rerun.plan.slack] == [DIGEST]  # the empty ledger does not know it
    assert (rerun.summary.slack_posted, rerun.summary.slack_failed) == (0, 0)
    assert len(_digests(sandbox)) == 1  # found in the channel instead
    reads = len(sandbox.slack.calls_to(HISTORY))

    third = run_sync(lost, dry_run=False)
    assert third.plan.slack == ()  # the new ledger recorded it as sent
    assert len(sandbox.slack.calls_to(HISTORY)) == reads


def test_with_a_webhook_a_lost_store_posts_again_as_documented(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    webhook = _webhook(sandbox)
    run_sync(webhook, dry_run=False)
    rerun = run_sync(_store_lost(webhook, tmp_path), dry_run=False)
    assert rerun.summary.slack_posted == 1
    assert len(_digests(sandbox)) == 2  # a webhook cannot read the channel back
    assert sandbox.slack.calls_to(HISTORY) == []


def test_a_lost_answer_then_a_lost_store_posts_nothing_again(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    sandbox.slack.drop_next(endpoint=POST)
    first = run_sync(sandbox.settings, dry_run=False)
    assert first.summary.slack_unknown == 1
    assert _statuses(sandbox, POST) == [0]  # not repeated: slack-sdk's own retries are off
    assert len(_digests(sandbox)) == 1  # it did arrive

    rerun = run_sync(_store_lost(sandbox.settings, tmp_path), dry_run=False)
    assert rerun.summary.slack_posted == 0
    assert len(_digests(sandbox)) == 1


def test_a_held_post_found_in_the_channel_is_settled_as_sent(sandbox: RunningSandbox) -> None:
    sandbox.slack.drop_next(endpoint=POST)
    run_sync(sandbox.settings, dry_run=False)

    second = run_sync(sandbox.settings, dry_run=False)
    assert second.plan.held == (DIGEST,)
    assert second.summary.slack_posted == 0
    assert len(_digests(sandbox)) == 1
    third = run_sync(sandbox.settings, dry_run=False)
    assert third.plan.held == ()  # found: recorded as sent


def test_a_held_post_missing_from_the_channel_is_posted_once(sandbox: RunningSandbox) -> None:
    sandbox.slack.drop_next(endpoint=POST, carried_out=False)  # the connection broke first
    first = run_sync(sandbox.settings, dry_run=False)
    assert first.summary.slack_unknown == 1
    assert _digests(sandbox) == []

    second = run_sync(sandbox.settings, dry_run=False)
    assert second.summary.slack_posted == 1
    assert len(_digests(sandbox)) == 1
    assert run_sync(sandbox.settings, dry_run=False).plan.held == ()


def test_a_held_post_older_than_the_history_read_stays_held(sandbox: RunningSandbox) -> None:
    sandbox.slack.drop_next(endpoint=POST, carried_out=False)
    run_sync(sandbox.settings, dry_run=False)
    for number in range(250):  # the team talks after it: one page no longer reaches it
        sandbox.slack.channel.add({"user": "U0HUMAN001", "text": f"on it {number}"})

    one_page = sandbox.settings.model_copy(update={"slack_history_pages": 1})
    second = run_sync(one_page, dry_run=False)
    assert (second.summary.slack_posted, second.plan.held) == (0, (DIGEST,))
    assert run_sync(one_page, dry_run=False).plan.held == (DIGEST,)  # still cannot tell

    third = run_sync(sandbox.settings, dry_run=False)  # two pages reach back past it
    assert third.summary.slack_posted == 1
    assert len(_digests(sandbox)) == 1


# -- Slack's refusals: retried by the one policy, or one clear sentence ------------------------


def test_429_waits_as_slack_says_then_posts(sandbox: RunningSandbox) -> None:
    sandbox.slack.fail_next(429, endpoint=POST, retry_after=1)
    outcome = run_sync(sandbox.settings, dry_run=False)
    assert outcome.summary.slack_posted == 1
    refused, posted = sandbox.slack.calls_to(POST)
    assert (refused.status, posted.status) == (429, 200)
    assert posted.at - refused.at >= 1.0  # Retry-After: 1
    assert len(_digests(sandbox)) == 1


def test_5xx_is_retried_then_posts(sandbox: RunningSandbox) -> None:
    sandbox.slack.fail_next(500, endpoint=HISTORY)
    sandbox.slack.fail_next(503, times=2, endpoint=POST)
    outcome = run_sync(sandbox.settings, dry_run=False)
    assert outcome.summary.slack_posted == 1
    assert _statuses(sandbox, HISTORY) == [500, 200]
    assert _statuses(sandbox, POST) == [503, 503, 200]  # our retries only: none doubled
    assert len(_digests(sandbox)) == 1


def test_a_post_refused_every_time_is_tried_again_on_the_next_run(
    sandbox: RunningSandbox,
) -> None:
    sandbox.slack.fail_next(500, times=4, endpoint=POST)  # every attempt of the first run
    first = run_sync(sandbox.settings, dry_run=False)
    assert (first.summary.slack_posted, first.summary.slack_failed) == (0, 1)
    second = run_sync(sandbox.settings, dry_run=False)
    assert second.summary.slack_posted == 1
    assert len(_digests(sandbox)) == 1


def test_unreadable_history_posts_nothing_the_ledger_does_not_know(
    sandbox: RunningSandbox,
) -> None:
    sandbox.slack.fail_next(503, times=4, endpoint=HISTORY)
    first = run_sync(sandbox.settings, dry_run=False)
    assert (first.summary.slack_posted, first.summary.slack_failed) == (0, 1)
    assert first.summary.slack_problem == "Slack failed: HTTP 503"
    assert sandbox.slack.calls_to(POST) == []
    assert run_sync(sandbox.settings, dry_run=False).summary.slack_posted == 1


@pytest.mark.parametrize(
    ("env", "invited", "sentence"),
    [
        pytest.param(
            {"SLACK_BOT_TOKEN": "xoxb-revoked-long-ago"},
            True,
            "Slack refused the bot token (invalid_auth); check SLACK_BOT_TOKEN",
            id="invalid_auth",
        ),
        pytest.param(
            {"SLACK_CHANNEL": "C0NOSUCHCH"},
            True,
            "Slack refused the channel (channel_not_found); check SLACK_CHANNEL and invite "
            "the bot to the channel (/invite @your-app)",
            id="channel_not_found",
        ),
        pytest.param(
            {},
            False,
            "Slack refused the channel (not_in_channel); check SLACK_CHANNEL and invite "
            "the bot to the channel (/invite @your-app)",
            id="not_in_channel",
        ),
    ],
)
def test_a_refused_token_or_channel_is_one_sentence_not_a_traceback(
    sandbox: RunningSandbox, env: dict[str, str], invited: bool, sentence: str
) -> None:
    sandbox.slack.channel.member = invited
    result = CliRunner().invoke(app, ["run", "--once"], env={**cli_env(sandbox), **env})

    assert result.exit_code == 0, result.output  # the CRM was written; Slack waits for a fix
    assert f"Not posted to Slack: {sentence}." in " ".join(result.output.split())
    assert "Traceback" not in result.output
    assert "xoxb-" not in result.output
    assert _statuses(sandbox, HISTORY) == [200]  # asked once, not retried
    assert sandbox.slack.calls_to(POST) == []


def test_once_slack_refuses_the_channel_no_other_post_is_tried(sandbox: RunningSandbox) -> None:
    settings = sandbox.settings
    assert settings.slack_bot_token is not None
    assert settings.slack_channel is not None
    bot = SlackBot(
        settings.slack_bot_token.get_secret_value(),
        settings.slack_channel,
        base_url=settings.slack_api_url,
        ssl_context=settings.ssl_context(),
    )
    sandbox.slack.channel.member = False
    for key in ("first", "second"):
        with pytest.raises(SlackUnavailable, match="not_in_channel"):
            bot.post(SlackMessage(key, "Renewal in 90 days"))
    assert _statuses(sandbox, POST) == [200]  # Slack's ok:false, asked once


# -- the history read ---------------------------------------------------------------------------


def test_history_is_read_page_by_page_until_the_key_is_found(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    run_sync(sandbox.settings, dry_run=False)
    for number in range(450):  # the team talks in the channel after the digest
        sandbox.slack.channel.add({"user": "U0HUMAN001", "text": f"on it {number}"})
    sandbox.slack.calls.clear()

    rerun = run_sync(_store_lost(sandbox.settings, tmp_path), dry_run=False)
    assert rerun.summary.slack_posted == 0
    reads = sandbox.slack.calls_to(HISTORY)
    assert len(reads) == 3  # 200 + 200 + the page with the digest in it
    cursors = [call.args.get("cursor") for call in reads]
    assert cursors[0] is None
    assert [base64.b64decode(str(c)).decode()[:8] for c in cursors[1:]] == ["next_ts:"] * 2
    oldest = float(reads[0].args["oldest"])
    assert abs(oldest - (time.time() - 35 * 86400)) < 120  # SLACK_HISTORY_DAYS
    assert {call.args["oldest"] for call in reads} == {reads[0].args["oldest"]}


def test_a_post_beyond_the_pages_read_is_posted_again_as_documented(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    run_sync(sandbox.settings, dry_run=False)
    for number in range(450):
        sandbox.slack.channel.add({"user": "U0HUMAN001", "text": f"on it {number}"})
    bounded = _store_lost(sandbox.settings, tmp_path).model_copy(update={"slack_history_pages": 2})
    rerun = run_sync(bounded, dry_run=False)
    assert rerun.summary.slack_posted == 1
    assert len(sandbox.slack.calls_to(HISTORY)) == 3  # the first run's read, then 2 pages
    assert len(_digests(sandbox)) == 2


@pytest.mark.parametrize(("days_ago", "posted"), [(30, 0), (40, 1)])
def test_the_channel_is_read_back_slack_history_days(
    sandbox: RunningSandbox, days_ago: int, posted: int
) -> None:
    metadata = {"event_type": "cs_connector_post", "event_payload": {"key": DIGEST}}
    sandbox.slack.channel.add(
        {"bot_id": "B0DEMOBOT1", "text": "Accounts needing attention", "metadata": metadata},
        at=time.time() - days_ago * 86400,
    )
    outcome = run_sync(sandbox.settings, dry_run=False)  # an empty store: the key is unknown
    assert outcome.summary.slack_posted == posted


def test_with_both_set_the_bot_token_wins(sandbox: RunningSandbox) -> None:
    both = sandbox.settings.model_copy(update={"slack_webhook_url": sandbox.slack_webhook_url})
    assert run_sync(both, dry_run=False).summary.slack_posted == 1
    assert sandbox.slack.calls_to(WEBHOOK) == []
    assert _statuses(sandbox, POST) == [200]


# -- a webhook: each post once while the store is kept -----------------------------------------


def test_with_a_webhook_a_refused_post_is_tried_again_on_the_next_run(
    sandbox: RunningSandbox,
) -> None:
    webhook = _webhook(sandbox)
    sandbox.slack.fail_next(500, times=4, endpoint=WEBHOOK)
    first = run_sync(webhook, dry_run=False)
    assert (first.summary.slack_posted, first.summary.slack_failed) == (0, 1)
    second = run_sync(webhook, dry_run=False)
    assert second.summary.slack_posted == 1
    assert len(_digests(sandbox)) == 1


def test_with_a_webhook_a_lost_answer_is_never_posted_twice(sandbox: RunningSandbox) -> None:
    webhook = _webhook(sandbox)
    sandbox.slack.drop_next(endpoint=WEBHOOK)
    first = run_sync(webhook, dry_run=False)
    assert first.summary.slack_unknown == 1
    assert len(_digests(sandbox)) == 1  # it did arrive
    second = run_sync(webhook, dry_run=False)
    assert second.plan.held == (DIGEST,)
    assert len(_digests(sandbox)) == 1
    assert sandbox.slack.channel.messages[0].get("metadata") is None  # no key to look for
