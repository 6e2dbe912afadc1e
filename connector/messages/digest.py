"""The Slack digest: accounts that need attention, grouped by owner, once per period.

Built from the evaluated table (pure, so a dry run shows exactly what would be posted) in
Block Kit, split to stay inside Slack's limits: 50 blocks a message, 3,000 characters a
section, 150 characters of header.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import polars as pl

from connector.config.playbook import SlackDigest
from connector.engine.expressions import compile_sql
from connector.language import (
    DEFAULT_CURRENCY,
    DEFAULT_LANGUAGE,
    Language,
    text_in,
    written_amount,
    written_date,
    written_number,
)
from connector.messages.slack import SlackMessage

MAX_BLOCKS = 50
MAX_SECTION_CHARS = 3000
MAX_HEADER_CHARS = 150


@dataclass(frozen=True)
class _Wording:
    """The digest's own words in one language (the title is RevOps', in the playbook)."""

    summary: str  # {count}, {period}
    part: str  # {number}, {pages}
    no_owner: str
    no_score: str
    trend: str
    renews: str
    headline: str  # {period}, {grr}, {nrr}, {churn}
    report: str  # {location}
    no_data: str


@dataclass(frozen=True, slots=True)
class Headline:
    """The portfolio's headline KPIs (None: no data) and where the full report is."""

    period: str
    grr: float | None
    nrr: float | None
    logo_churn: float | None
    location: str | None = None


WORDING: dict[Language, _Wording] = {
    "en": _Wording(
        summary="{count} accounts need attention ({period})",
        part="part {number}/{pages}",
        no_owner="No owner",
        no_score="no score",
        trend="trend",
        renews="renews",
        headline="{period}: GRR {grr} · NRR {nrr} · logo churn {churn}",
        report="portfolio report: {location}",
        no_data="no data",
    ),
    "ja": _Wording(
        summary="対応が必要なアカウント {count}件（{period}）",
        part="{number}/{pages}",
        no_owner="担当者なし",
        no_score="スコアなし",
        trend="変動",
        renews="更新日",
        headline="{period}：GRR {grr}・NRR {nrr}・ロゴチャーン {churn}",
        report="ポートフォリオレポート：{location}",
        no_data="データなし",
    ),
}


def period_key(period: str, as_of: date) -> str:
    if period == "day":
        return as_of.isoformat()
    if period == "month":
        return f"{as_of:%Y-%m}"
    year, week, _ = as_of.isocalendar()
    return f"{year}-W{week:02d}"


def _period_name(period: str, as_of: date, language: Language) -> str:
    """The period as its reader says it: 2026-W48, or 2026年11月23日の週."""
    if language != "ja":
        return period_key(period, as_of)
    if period == "month":
        return f"{as_of.year}年{as_of.month}月"
    if period == "day":
        return written_date(as_of, language)
    return written_date(as_of - timedelta(days=as_of.weekday()), language) + "の週"


def build_digest(
    table: pl.DataFrame,
    digest: SlackDigest,
    as_of: date,
    link: Callable[[str], str],
    language: Language = DEFAULT_LANGUAGE,
    *,
    currency: str | None = None,
    headline: Headline | None = None,
) -> list[SlackMessage]:
    """The digest for the period containing `as_of`, as one or more messages, worded for a
    team working in `language`, amounts in `currency` (None: the language's usual one); none
    when no account matches. `headline` goes under the summary of each message."""
    currency = currency or DEFAULT_CURRENCY[language]
    # lazily, so the filter gathers only the columns shown: every column of 40,000
    # unhealthy accounts of 100,000 was ~50 MB, at the moment planning peaked
    shown = [c for c in dict.fromkeys([digest.group_by, *_SHOWN]) if c in table.columns]
    matching = (
        table.lazy()
        .filter(compile_sql(digest.when, table.columns).fill_null(False))
        .select(shown)
        .sort(digest.group_by, "health_score", nulls_last=True)
        .collect()
    )
    if matching.height == 0:
        return []
    key = period_key(digest.period, as_of)  # the same in every language: keys never change
    words = WORDING[language]
    period = _period_name(digest.period, as_of, language)
    title = text_in(digest.title, language)
    owners: list[tuple[str, list[str]]] = []
    lines = _lines(matching, link, words, (language, currency))
    for value, line in zip(matching.get_column(digest.group_by).to_list(), lines, strict=True):
        owner = str(value or words.no_owner)
        if not owners or owners[-1][0] != owner:
            owners.append((owner, []))
        owners[-1][1].append(line)
    blocks = [block for owner, lines in owners for block in _owner_blocks(owner, lines)]
    pages = [blocks[i : i + MAX_BLOCKS - 2] for i in range(0, len(blocks), MAX_BLOCKS - 2)]
    summary = words.summary.format(count=matching.height, period=period)
    return [
        SlackMessage(
            key=f"slack-digest:{key}:{number}",
            text=f"{title}: {summary}"
            + (
                " — " + words.part.format(number=number, pages=len(pages)) if len(pages) > 1 else ""
            ),
            blocks=(
                _header(title, period, number, len(pages)),
                _context(summary, *_headline(headline, words)),
                *page,
            ),
        )
        for number, page in enumerate(pages, 1)
    ]


_SHOWN = ("id", "name", "health_score", "health_color", "health_trend", "arr", "renewal_date")


def _lines(
    rows: pl.DataFrame, link: Callable[[str], str], words: _Wording, team: tuple[Language, str]
) -> list[str]:
    """Each account's line: linked name, score and colour, then the trend, ARR and renewal
    it has. Each part is written once per distinct value, and the parts are joined as
    columns: a digest of 40,000 accounts has a few thousand scores, amounts and dates."""
    language, currency = team
    names = zip(rows.get_column("id").to_list(), rows.get_column("name").to_list(), strict=True)
    linked = [f"<{link(account)}|{_escape(str(name))}>" for account, name in names]
    score = _each(rows, "health_score", lambda v: f"*{written_number(v, language)}*")
    colour = _each(rows, "health_color", lambda v: f" {v or ''}".rstrip())
    parts = [
        pl.Series(linked, dtype=pl.String),
        score.fill_null(f"*{words.no_score}*") + colour.fill_null(""),
        _each(rows, "health_trend", lambda v: f"{words.trend} {v:+.0f}".strip()),
        _each(rows, "arr", lambda v: f"ARR {written_amount(v, currency, language)}".strip()),
        _each(
            rows, "renewal_date", lambda v: f"{words.renews} {written_date(v, language)}".strip()
        ),
    ]
    line = pl.concat_str([pl.lit("• "), pl.concat_str(parts, separator=" · ", ignore_nulls=True)])
    return rows.select(line.alias("line")).get_column("line").to_list()


def _each(rows: pl.DataFrame, column: str, write: Callable[[Any], str]) -> pl.Series:
    """`write` of each row's value (null where none, or no such column), called once per
    distinct value; values told apart as polars writes them, so 0.0 and -0.0 stay two."""
    if column not in rows.columns:
        return pl.Series(column, [None] * rows.height, dtype=pl.String)
    values = rows.get_column(column)
    keys = values.cast(pl.String)
    distinct = (
        pl.DataFrame({"key": keys, "value": values})
        .drop_nulls("key")
        .unique("key", keep="first", maintain_order=True)
    )
    texts = pl.Series([write(v) for v in distinct.get_column("value").to_list()], dtype=pl.String)
    return keys.replace_strict(distinct.get_column("key"), texts, default=None)


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


def _context(*texts: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": t} for t in texts]}


def _headline(headline: Headline | None, words: _Wording) -> list[str]:
    """The KPI line and where the report is; a KPI without data says so."""
    if headline is None:
        return []

    def rate(value: float | None) -> str:
        return words.no_data if value is None else f"{value:.1%}"

    line = words.headline.format(
        period=headline.period,
        grr=rate(headline.grr),
        nrr=rate(headline.nrr),
        churn=rate(headline.logo_churn),
    )
    if headline.location:
        line += " · " + words.report.format(location=_escape(headline.location))
    return [line]


def _escape(text: str) -> str:
    """Slack's mrkdwn control characters, so an account name cannot forge a link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
