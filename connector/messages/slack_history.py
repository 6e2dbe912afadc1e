"""Before a bot posts: which posts are already in the channel? The ledger of last resort.

The store's ledger says what this store sent. A key it does not know — a new post, or every
post once the store was lost — and a key left 'sending' (an answer lost on the way back) are
looked for in the channel's recent history, read once a run: found, the key is marked 'sent'
and not posted again; not found, it is posted. The read reaches back `SLACK_HISTORY_DAYS`
(at most `SLACK_HISTORY_PAGES` pages): a key posted before that is not seen, and a 'sending'
key recorded before that stays held back.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from connector.logs import event
from connector.messages.slack import SlackMessage
from connector.messages.slack_api import SlackBot
from connector.store import HistoryStore

log = logging.getLogger("connector.messages")

CHANNEL = "slack"  # the ledger's channel name for Slack posts, as `deliver` records them


@dataclass(frozen=True)
class HistoryWindow:
    days: int
    max_pages: int


def still_to_post(
    bot: SlackBot,
    store: HistoryStore,
    messages: Sequence[SlackMessage],
    held: Sequence[SlackMessage],
    window: HistoryWindow,
) -> list[SlackMessage]:
    """The posts not in the channel yet: `held` ones first, then the rest of `messages`.

    Reads the channel only if the ledger does not know a key or holds one back; raises what
    `SlackBot` raises when it cannot, and then nothing may be posted that the ledger does not
    know.
    """
    statuses = store.message_statuses(m.key for m in messages)
    unknown = [m for m in messages if m.key not in statuses]
    if not unknown and not held:
        return list(messages)
    oldest = datetime.now(UTC) - timedelta(days=window.days)
    looked_for = [m.key for m in (*held, *unknown)]
    history = bot.posted_keys(oldest, max_pages=window.max_pages, wanted=looked_for)
    recorded = store.messages_recorded_at(m.key for m in held)
    for message in messages:
        if message.key in history.keys:  # posted by a run whose ledger this store lost
            if message.key not in statuses:
                store.message_sending(message.key, CHANNEL)
            store.message_done(message.key, sent=True)
    post: list[SlackMessage] = []
    still_held = 0
    for message in held:
        if message.key in history.keys:
            store.message_done(message.key, sent=True)
        elif recorded.get(message.key, history.since) >= history.since:
            store.message_done(message.key, sent=False)  # not there: it never arrived
            post.append(message)
        else:
            still_held += 1  # sent before the read reaches back: cannot tell
    event(
        log,
        "slack_history_read",
        pages=history.pages,
        since=history.since.isoformat(timespec="seconds"),
        looked_for=len(looked_for),
        found=len(history.keys.intersection(looked_for)),
        still_held=still_held,
    )
    return post + [m for m in messages if m.key not in history.keys]
