"""The Slack digest: accounts that need attention, grouped by owner, once per period.

Built from the evaluated table (pure, so a dry run shows exactly what would be posted) in
Block Kit, split to stay inside Slack's limits: 50 blocks a message, 3,000 characters a
section, 150 characters of header.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import polars as pl

from connector.config.playbook import SlackDigest
from connector.engine.expressions import compile_sql
from connector.messages.slack import SlackMessage

MAX_BLOCKS = 50
MAX_SECTION_CHARS = 3000
MAX_HEADER_CHARS = 150


def period_key(period: str, as_of: date) -> str:
    if period == "day":
        return as_of.isoformat()
    if period == "month":
        return f"{as_of:%Y-%m}"
    year, week, _ = as_of.isocalendar()
    return f"{year}-W{week:02d}"


def build_digest(
    table: pl.DataFrame, digest: SlackDigest, as_of: date, link: Callable[[str], str]
) -> list[SlackMessage]:
    """The digest for the period containing `as_of`, as one or more messages; none when no
    account matches."""
    matching = table.filter(compile_sql(digest.when, table.columns).fill_null(False)).sort(
        digest.group_by, "health_score", nulls_last=True
    )
    if matching.height == 0:
        return []
    period = period_key(digest.period, as_of)
    owners: list[tuple[str, list[str]]] = []
    for row in matching.iter_rows(named=True):
        owner = str(row[digest.group_by] or "No owner")
        if not owners or owners[-1][0] != owner:
            owners.append((owner, []))
        owners[-1][1].append(_line(row, link(row["id"])))
    blocks = [block for owner, lines in owners for block in _owner_blocks(owner, lines)]
    pages = [blocks[i : i + MAX_BLOCKS - 2] for i in range(0, len(blocks), MAX_BLOCKS - 2)]
    summary = f"{matching.height} accounts need attention ({period})"
    return [
        SlackMessage(
            key=f"slack-digest:{period}:{number}",
            text=f"{digest.title}: {summary}"
            + (f" — part {number}/{len(pages)}" if len(pages) > 1 else ""),
            blocks=(_header(digest.title, period, number, len(pages)), _context(summary), *page),
        )
        for number, page in enumerate(pages, 1)
    ]


def _line(row: dict[str, Any], url: str) -> str:
    score = "no score" if row.get("health_score") is None else f"{row['health_score']:.0f}"
    trend = row.get("health_trend")
    parts = [f"<{url}|{_escape(str(row['name']))}>", f"*{score}* {row.get('health_color') or ''}"]
    if trend is not None:
        parts.append(f"trend {trend:+.0f}")
    if row.get("arr") is not None:
        parts.append(f"ARR {row['arr']:,.0f}")
    if row.get("renewal_date") is not None:
        parts.append(f"renews {row['renewal_date']:%Y-%m-%d}")
    return "• " + " · ".join(p.strip() for p in parts)


def _owner_blocks(owner: str, lines: list[str]) -> list[dict[str, Any]]:
    """A heading section for the owner, then sections of whole lines under 3,000 chars."""
    sections, current = [], f"*{_escape(owner)}* ({len(lines)})"
    for line in lines:
        if len(current) + 1 + len(line) > MAX_SECTION_CHARS:
            sections.append(current)
            current = line
        else:
            current += "\n" + line
    sections.append(current)
    return [{"type": "section", "text": {"type": "mrkdwn", "text": text}} for text in sections]


def _header(title: str, period: str, number: int, pages: int) -> dict[str, Any]:
    text = f"{title} — {period}" + (f" ({number}/{pages})" if pages > 1 else "")
    return {"type": "header", "text": {"type": "plain_text", "text": text[:MAX_HEADER_CHARS]}}


def _context(summary: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": summary}]}


def _escape(text: str) -> str:
    """Slack's mrkdwn control characters, so an account name cannot forge a link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
