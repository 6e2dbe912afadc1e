"""One Slack channel as the Web API shows it to a bot: `chat.postMessage` and
`conversations.history`, with Slack's answers.

Shapes follow Slack's method reference: every answer is HTTP 200 with `ok` (errors as
`{"ok": false, "error": "<code>"}`, `invalid_auth` and `channel_not_found` included); a post's
`metadata` is `{"event_type", "event_payload"}` and the history returns it only with
`include_all_metadata`; history is newest first, between `oldest` and `latest` (exclusive
unless `inclusive`), `limit` a page (100 by default, at most 999), and a cursor —
base64 of `next_ts:<ts>` as Slack's own — in `response_metadata.next_cursor` while
`has_more`. Block limits are the ones the webhook stand-in checks.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

TEAM_ID = "T0DEMO0001"
BOT_USER_ID = "U0DEMOBOT1"
BOT_ID = "B0DEMOBOT1"
APP_ID = "A0DEMOAPP1"
MAX_BLOCKS = 50
MAX_SECTION_CHARS = 3000
MAX_TEXT_CHARS = 40_000
DEFAULT_LIMIT, MAX_LIMIT = 100, 999

Answer = dict[str, Any]


def refusal(code: str, *details: str) -> Answer:
    answer: Answer = {"ok": False, "error": code}
    if details:
        answer["errors"] = list(details)
    return answer


def block_problem(payload: Mapping[str, Any]) -> tuple[str, str] | None:
    """Slack's refusal for text and blocks a post must never carry: (code, detail)."""
    blocks = payload.get("blocks") or []
    if not payload.get("text") and not blocks:
        return "no_text", "no text or blocks"
    if len(str(payload.get("text") or "")) > MAX_TEXT_CHARS:
        return "msg_too_long", "text over 40000 characters"
    if not isinstance(blocks, list) or not all(isinstance(b, dict) for b in blocks):
        return "invalid_blocks", "blocks must be a list of objects"
    if len(blocks) > MAX_BLOCKS:
        return "invalid_blocks", "more than 50 blocks"
    for block in blocks:
        text = block.get("text") if block.get("type") == "section" else None
        if isinstance(text, dict) and len(str(text.get("text", ""))) > MAX_SECTION_CHARS:
            return "invalid_blocks", "section text over 3000 characters"
    return None


class SlackChannel:
    """The channel's messages, oldest first; `member` False: the bot was never invited."""

    def __init__(self, channel_id: str, messages: list[dict[str, Any]] | None = None) -> None:
        self.channel_id = channel_id
        self.messages: list[dict[str, Any]] = messages or []
        self.member = True

    @classmethod
    def load(cls, path: Path, channel_id: str) -> SlackChannel:
        messages = json.loads(path.read_text())["messages"] if path.exists() else []
        return cls(channel_id, messages)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps({"messages": self.messages}, ensure_ascii=False))

    def add(self, message: dict[str, Any], at: float | None = None) -> dict[str, Any]:
        """Append with a `ts` after every other (Slack's ts are unique in a channel)."""
        last = float(self.messages[-1]["ts"]) if self.messages else 0.0
        ts = max(time.time() if at is None else at, last + 0.000001)
        stored = {"type": "message", **message, "ts": f"{ts:.6f}"}
        self.messages.append(stored)
        return stored

    def post(self, args: Mapping[str, Any]) -> Answer:
        """chat.postMessage as a bot: text, blocks and metadata."""
        refused = self._channel_refusal(args)
        if refused:
            return refused
        problem = block_problem(args)
        if problem:
            return refusal(*problem)
        metadata = args.get("metadata")
        if metadata is not None and not _valid_metadata(metadata):
            return refusal("invalid_metadata_format", "metadata needs event_type and event_payload")
        message: dict[str, Any] = {
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "team": TEAM_ID,
            "text": args.get("text") or "",
        }
        if args.get("blocks"):
            message["blocks"] = args["blocks"]
        if metadata is not None:
            message["metadata"] = metadata
        stored = self.add(message)
        shown = {k: v for k, v in stored.items() if k != "metadata"}
        return {"ok": True, "channel": self.channel_id, "ts": stored["ts"], "message": shown}

    def history(self, args: Mapping[str, Any]) -> Answer:
        """conversations.history: one page, newest first."""
        refused = self._channel_refusal(args)
        if refused:
            return refused
        try:
            oldest = _ts(args.get("oldest"), Decimal(0))
            latest = _ts(args.get("latest"), Decimal(time.time() + 1))
            limit = min(MAX_LIMIT, max(1, int(args.get("limit") or DEFAULT_LIMIT)))
        except (InvalidOperation, ValueError):
            return refusal("invalid_arguments")
        inclusive = _flag(args.get("inclusive"))
        try:
            before = _cursor_ts(args.get("cursor"))
        except ValueError:
            return refusal("invalid_cursor")
        metadata = _flag(args.get("include_all_metadata"))
        matching = [
            m
            for m in reversed(self.messages)
            if _within(Decimal(m["ts"]), oldest, latest, inclusive)
            and (before is None or Decimal(m["ts"]) <= before)
        ]
        page, rest = matching[:limit], matching[limit:]
        answer: Answer = {
            "ok": True,
            "messages": [_shown(m, metadata=metadata) for m in page],
            "has_more": bool(rest),
            "pin_count": 0,
            "channel_actions_ts": None,
            "channel_actions_count": 0,
        }
        if rest:
            answer["response_metadata"] = {"next_cursor": _cursor(rest[0]["ts"])}
        return answer

    def _channel_refusal(self, args: Mapping[str, Any]) -> Answer | None:
        if args.get("channel") != self.channel_id:
            return refusal("channel_not_found")
        if not self.member:
            return refusal("not_in_channel")
        return None


def _valid_metadata(metadata: Any) -> bool:
    return (
        isinstance(metadata, dict)
        and isinstance(metadata.get("event_type"), str)
        and bool(metadata["event_type"])
        and isinstance(metadata.get("event_payload"), dict)
    )


def _shown(message: Mapping[str, Any], *, metadata: bool) -> dict[str, Any]:
    return {k: v for k, v in message.items() if metadata or k != "metadata"}


def _within(ts: Decimal, oldest: Decimal, latest: Decimal, inclusive: bool) -> bool:
    if inclusive:
        return oldest <= ts <= latest
    return oldest < ts < latest


def _ts(value: Any, default: Decimal) -> Decimal:
    return default if value in (None, "") else Decimal(str(value))


def _flag(value: Any) -> bool:
    return str(value).lower() in ("1", "true")


def _cursor(ts: str) -> str:
    return base64.b64encode(f"next_ts:{ts.replace('.', '')}".encode()).decode()


def _cursor_ts(cursor: Any) -> Decimal | None:
    """The ts a cursor continues from (inclusive); ValueError for one Slack never gave."""
    if not cursor:
        return None
    try:
        text = base64.b64decode(str(cursor), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise ValueError("not a cursor") from None
    prefix, _, digits = text.partition(":")
    if prefix != "next_ts" or not digits.isdigit() or len(digits) <= 6:
        raise ValueError("not a cursor")
    return Decimal(f"{digits[:-6]}.{digits[-6:]}")
