"""The sandbox Slack answers the real slack-sdk WebClient as Slack's method reference says:
chat.postMessage with metadata and block limits, conversations.history newest first with
cursors, and Slack's `ok: false` error codes."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from connector.sandbox.server import serve_wsgi
from connector.sandbox.slack_receiver import BOT_TOKEN, CHANNEL_ID, SlackReceiver

METADATA = {"event_type": "cs_connector_post", "event_payload": {"key": "k1"}}


@pytest.fixture
def slack() -> Iterator[tuple[SlackReceiver, str]]:
    receiver = SlackReceiver()
    with serve_wsgi(receiver, tls=None) as server:
        yield receiver, f"{server.url}/api/"


def _client(url: str, token: str = BOT_TOKEN) -> WebClient:
    return WebClient(token=token, base_url=url, retry_handlers=[])


def _error(call: Any) -> str:
    with pytest.raises(SlackApiError) as raised:
        call()
    return str(raised.value.response["error"])


def test_a_post_keeps_its_metadata_for_the_history_that_asks_for_it(
    slack: tuple[SlackReceiver, str],
) -> None:
    receiver, url = slack
    client = _client(url)
    posted = client.chat_postMessage(channel=CHANNEL_ID, text="hello", metadata=METADATA)
    assert (posted["ok"], posted["channel"]) == (True, CHANNEL_ID)
    assert re.fullmatch(r"\d{10}\.\d{6}", posted["ts"])
    assert (posted["message"]["text"], posted["message"]["ts"]) == ("hello", posted["ts"])

    plain = client.conversations_history(channel=CHANNEL_ID)["messages"]
    full = client.conversations_history(channel=CHANNEL_ID, include_all_metadata=True)
    assert "metadata" not in plain[0]
    assert full["messages"][0]["metadata"] == METADATA
    assert (full["has_more"], full.get("response_metadata")) == (False, None)
    assert receiver.posts == [receiver.channel.messages[0]]


def test_history_pages_newest_first_with_next_ts_cursors(slack: tuple[SlackReceiver, str]) -> None:
    receiver, url = slack
    for number in range(5):
        receiver.channel.add({"user": "U0HUMAN001", "text": str(number)}, at=1_764_000_000 + number)
    client = _client(url)

    seen, cursor, pages = [], None, 0
    while True:
        page = client.conversations_history(channel=CHANNEL_ID, limit=2, cursor=cursor)
        seen += [m["text"] for m in page["messages"]]
        pages += 1
        cursor = (page.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            break
        assert page["has_more"] is True
        assert base64.b64decode(cursor).decode().startswith("next_ts:17640000")
    assert (seen, pages) == (["4", "3", "2", "1", "0"], 3)


def test_history_keeps_to_oldest_and_latest(slack: tuple[SlackReceiver, str]) -> None:
    receiver, url = slack
    for number in range(4):
        receiver.channel.add({"user": "U0HUMAN001", "text": str(number)}, at=1_764_000_000 + number)
    client = _client(url)

    def texts(**window: Any) -> list[str]:
        page = client.conversations_history(channel=CHANNEL_ID, **window)
        return [m["text"] for m in page["messages"]]

    assert texts(oldest="1764000001.000000") == ["3", "2"]
    assert texts(oldest="1764000001.000000", inclusive=True) == ["3", "2", "1"]
    assert texts(oldest="1764000000.500000", latest="1764000002.000000") == ["1"]


@pytest.mark.parametrize(
    ("call", "error"),
    [
        pytest.param(
            lambda c: c.chat_postMessage(channel="C0NOSUCHCH", text="x"),
            "channel_not_found",
            id="unknown channel",
        ),
        pytest.param(
            lambda c: c.chat_postMessage(channel=CHANNEL_ID, text="x", metadata={"x": 1}),
            "invalid_metadata_format",
            id="metadata without event_type",
        ),
        pytest.param(
            lambda c: c.chat_postMessage(
                channel=CHANNEL_ID,
                text="x",
                blocks=[{"type": "divider"}] * 51,
            ),
            "invalid_blocks",
            id="more than 50 blocks",
        ),
        pytest.param(
            lambda c: c.chat_postMessage(channel=CHANNEL_ID, text="x" * 40_001),
            "msg_too_long",
            id="text over 40,000 characters",
        ),
        pytest.param(
            lambda c: c.conversations_history(channel=CHANNEL_ID, cursor="bm90IGEgY3Vyc29y"),
            "invalid_cursor",
            id="a cursor Slack never gave",
        ),
    ],
)
def test_slack_refuses_what_slack_refuses(
    slack: tuple[SlackReceiver, str], call: Any, error: str
) -> None:
    receiver, url = slack
    assert _error(lambda: call(_client(url))) == error
    assert receiver.channel.messages == []


def test_a_wrong_or_missing_token_is_refused(slack: tuple[SlackReceiver, str]) -> None:
    _, url = slack
    wrong = _client(url, token="xoxb-wrong")
    assert _error(lambda: wrong.conversations_history(channel=CHANNEL_ID)) == "invalid_auth"
    answer = requests.post(f"{url}conversations.history", data={"channel": CHANNEL_ID}, timeout=5)
    assert (answer.status_code, answer.json()) == (200, {"ok": False, "error": "not_authed"})


def test_a_form_post_carries_blocks_and_metadata_as_json_text(
    slack: tuple[SlackReceiver, str],
) -> None:
    receiver, url = slack
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*hi*"}}]
    answer = requests.post(
        f"{url}chat.postMessage",
        data={
            "token": BOT_TOKEN,
            "channel": CHANNEL_ID,
            "text": "hi",
            "blocks": json.dumps(blocks),
            "metadata": json.dumps(METADATA),
        },
        timeout=5,
    )
    assert answer.json()["ok"] is True
    (message,) = receiver.channel.messages
    assert (message["blocks"], message["metadata"]) == (blocks, METADATA)
    assert receiver.calls[-1].args.get("token") is None  # never kept


def test_a_bot_never_invited_cannot_post_or_read(slack: tuple[SlackReceiver, str]) -> None:
    receiver, url = slack
    receiver.channel.member = False
    client = _client(url)
    assert _error(lambda: client.chat_postMessage(channel=CHANNEL_ID, text="x")) == (
        "not_in_channel"
    )
    assert _error(lambda: client.conversations_history(channel=CHANNEL_ID)) == "not_in_channel"


def test_a_rate_limit_answers_429_with_retry_after(slack: tuple[SlackReceiver, str]) -> None:
    receiver, url = slack
    receiver.fail_next(429, endpoint="conversations.history", retry_after=7)
    with pytest.raises(SlackApiError) as raised:
        _client(url).conversations_history(channel=CHANNEL_ID)
    response = raised.value.response
    assert (response.status_code, response["error"]) == (429, "ratelimited")
    assert response.headers["Retry-After"] == "7"
