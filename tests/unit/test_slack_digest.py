"""The digest's content and its split into messages Slack accepts."""

from __future__ import annotations

from datetime import date

import polars as pl

from connector.config.playbook import SlackDigest
from connector.messages.digest import MAX_BLOCKS, MAX_SECTION_CHARS, Headline, build_digest

AS_OF = date(2026, 11, 23)
DIGEST = SlackDigest()


def _table(rows: int, owners: int = 2) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "id": [f"001{i:05d}" for i in range(rows)],
            "name": [f"Account <{i}> & Co" for i in range(rows)],
            "owner_name": [f"Owner {i % owners}" for i in range(rows)],
            "health_score": [float(i % 100) for i in range(rows)],
            "health_color": ["Red" if i % 3 == 0 else "Green" for i in range(rows)],
            "health_trend": [-12.0 if i % 3 == 1 else 0.0 for i in range(rows)],
            "arr": [12000.0] * rows,
            "renewal_date": [date(2027, 3, 1)] * rows,
        }
    )


def _link(record_id: str) -> str:
    return f"https://crm.example/{record_id}"


def test_digest_lists_red_and_dropping_accounts_by_owner_with_links() -> None:
    (message,) = build_digest(_table(6), DIGEST, AS_OF, _link)
    assert message.key == "slack-digest:2026-W48:1"
    assert message.text == "Accounts needing attention: 4 accounts need attention (2026-W48)"
    header, _summary, *sections = message.blocks
    assert header["text"]["text"] == "Accounts needing attention — 2026-W48"
    owner0, owner1 = (s["text"]["text"] for s in sections)
    assert owner0.splitlines() == [
        "*Owner 0* (2)",
        "• <https://crm.example/00100000|Account &lt;0&gt; &amp; Co> · *0* Red · trend +0 · "
        "ARR $12,000 · renews 2027-03-01",
        "• <https://crm.example/00100004|Account &lt;4&gt; &amp; Co> · *4* Green · trend -12 · "
        "ARR $12,000 · renews 2027-03-01",
    ]
    assert owner1.splitlines() == [
        "*Owner 1* (2)",
        "• <https://crm.example/00100001|Account &lt;1&gt; &amp; Co> · *1* Green · trend -12 · "
        "ARR $12,000 · renews 2027-03-01",
        "• <https://crm.example/00100003|Account &lt;3&gt; &amp; Co> · *3* Red · trend +0 · "
        "ARR $12,000 · renews 2027-03-01",
    ]


def test_nothing_to_report_posts_nothing() -> None:
    calm = _table(3).with_columns(health_color=pl.lit("Green"), health_trend=pl.lit(0.0))
    assert build_digest(calm, DIGEST, AS_OF, _link) == []


def test_a_long_digest_is_split_within_slacks_limits() -> None:
    messages = build_digest(_table(3000, owners=60), DIGEST, AS_OF, _link)
    assert [m.key for m in messages] == [f"slack-digest:2026-W48:{n}" for n in (1, 2, 3)]
    listed = 0
    for message in messages:
        assert len(message.blocks) <= MAX_BLOCKS
        for block in message.blocks:
            if block["type"] == "section":
                assert len(block["text"]["text"]) <= MAX_SECTION_CHARS
                listed += sum(line.startswith("• ") for line in block["text"]["text"].splitlines())
    assert listed == 2000  # every red or dropping account, once


def test_the_digest_carries_the_headline_kpis_and_where_the_report_is() -> None:
    headline = Headline("2026-Q3", 0.9512, 1.0437, None, "https://cs.example/report/")

    (message,) = build_digest(_table(6), DIGEST, AS_OF, _link, headline=headline)

    summary = message.blocks[1]["elements"]
    assert [element["text"] for element in summary] == [
        "4 accounts need attention (2026-W48)",
        "2026-Q3: GRR 95.1% · NRR 104.4% · logo churn no data · "
        "portfolio report: https://cs.example/report/",
    ]


def test_a_japanese_team_reads_the_headline_in_japanese() -> None:
    headline = Headline("2026-Q3", 1.0, None, 0.0)

    (message,) = build_digest(_table(6), DIGEST, AS_OF, _link, "ja", headline=headline)

    assert message.blocks[1]["elements"][1]["text"] == (
        "2026-Q3：GRR 100.0%・NRR データなし・ロゴチャーン 0.0%"
    )


def test_each_line_says_its_own_values_as_written_once_per_distinct_value() -> None:
    """Parts are written once per distinct value, so values equal to Python but written
    apart (-0.0 and 0.0) keep their own text; a missing value (or column) leaves its part
    out, a blank colour leaves no trailing space."""
    table = pl.DataFrame(
        {
            "id": ["001A", "001B", "001C", "001D"],
            "name": ["A", "B", "C", "D"],
            "owner_name": ["Ann"] * 4,
            "health_score": [0.0, -0.0, None, 0.0],
            "health_color": ["Red", "Red", "  ", None],
            "health_trend": [float("nan"), -0.0, None, -12.4],
            "arr": [None, -0.0, 0.0, 1500.0],
        }
    )
    digest = SlackDigest(when="true")
    (message,) = build_digest(table, digest, AS_OF, _link)
    assert message.blocks[2]["text"]["text"].splitlines() == [
        "*Ann* (4)",
        "• <https://crm.example/001A|A> · *0* Red · trend +nan",
        "• <https://crm.example/001B|B> · *-0* Red · trend -0 · ARR -$0",
        "• <https://crm.example/001D|D> · *0* · trend -12 · ARR $1,500",
        "• <https://crm.example/001C|C> · *no score* · ARR $0",
    ]
