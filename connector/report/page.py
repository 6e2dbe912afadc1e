"""The report page: one self-contained HTML file (inline SVG and CSS, no script, no link to
fetch), in the team's language, saying plainly where the history is too short."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import jinja2
import polars as pl
from markupsafe import escape

from connector.language import Language, written_date
from connector.report import charts
from connector.report.kpis import EVERYONE
from connector.report.tables import History, KpiTables
from connector.report.wording import WORDING, Wording

CHART_IDS = (
    "health-distribution",
    "score-trend",
    "retention",
    "stage-cohorts",
    "at-risk-by-owner",
    "task-completion",
    "health-after-tasks",
)

RETENTION_SHOWN = [  # the page's table; the exports have every column
    "period",
    "complete",
    "accounts",
    "start_arr",
    "end_arr",
    "expansion_arr",
    "churned_arr",
    "grr",
    "nrr",
    "logo_churn",
]

_PAGE = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined).from_string(
    """<!DOCTYPE html>
<html lang="{{ language }}">
<head>
<meta charset="utf-8">
<title>{{ w.title }}</title>
<style>
body { font-family: system-ui, "Noto Sans CJK JP", sans-serif; margin: 2em auto;
       max-width: 60em; color: #222; }
figure { margin: 1.5em 0; } figure svg { max-width: 100%; height: auto; }
table { border-collapse: collapse; margin: .5em 0 1.5em; font-size: .9em; }
th, td { border-bottom: 1px solid #ddd; padding: .25em .6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.note { color: #666; }
</style>
</head>
<body>
<h1>{{ w.title }}</h1>
<p class="note">{{ generated }}<br>{{ history }}{% if currency %} {{ currency }}{% endif %}</p>
{% for chart in charts %}
<figure id="chart-{{ chart.id }}" class="chart">
<figcaption><h2>{{ chart.title }}</h2></figcaption>
{{ chart.svg | safe }}
</figure>
{% if chart.table %}{{ chart.table | safe }}{% endif %}
{% endfor %}
<h2>{{ w.renewal_by_colour }}</h2>
{{ colour_table | safe }}
{{ risk | safe }}
<h2>{{ w.formulas }}</h2>
<ul class="note">
{% for line in w.formula_lines %}<li>{{ line }}</li>
{% endfor %}</ul>
<h2>{{ w.exports }}</h2>
<ul>{% for name in exports %}<li><a href="{{ name }}.csv">{{ name }}.csv</a>,
<a href="{{ name }}.parquet">{{ name }}.parquet</a></li>{% endfor %}</ul>
</body>
</html>
"""
)


@dataclass(frozen=True, slots=True)
class _Chart:
    id: str
    title: str
    svg: str
    table: str = ""


def render_page(
    history: History,
    kpis: KpiTables,
    *,
    language: Language,
    generated_at: datetime,
    zone: str,
    risk: str = "",
) -> str:
    """The whole page; `generated_at` is already in the team's time zone (`zone`); `risk`:
    the churn-risk backtest's section (`report.risk`)."""
    w = WORDING[language]
    tables = kpis.tables
    when = f"{written_date(generated_at.date(), language)} {generated_at:%H:%M}"
    return _PAGE.render(
        language=language,
        w=w,
        generated=w.generated.format(when=when, zone=zone),
        history=_history_note(history.snapshot_days, w, language),
        currency=w.currency.format(currency=kpis.currency) if kpis.currency else "",
        charts=_charts(tables, w),
        colour_table=_table(tables["renewal_rate_by_colour"], w, percent=("renewal_rate",)),
        exports=sorted(tables),
        risk=risk,
    )


def _history_note(days: list[date], w: Wording, language: Language) -> str:
    if not days:
        return w.no_history
    first, last = (written_date(day, language) for day in (days[0], days[-1]))
    return w.history.format(days=len(days), first=first, last=last)


def _charts(tables: dict[str, pl.DataFrame], w: Wording) -> list[_Chart]:
    colours = tables["health_distribution"]
    trend = tables["score_trend"]
    quarters = tables["retention_by_quarter"]
    cohorts = _stage_rates(tables["stage_cohorts"])
    risk = tables["at_risk_arr_by_owner"]
    by_rule = tables["tasks_by_rule"]
    rules = by_rule["rule_id"].to_list()
    quarter_labels = [_period(p, c, w) for p, c in quarters.select("period", "complete").rows()]
    return [
        _Chart(
            "health-distribution",
            w.health_distribution,
            charts.bars(
                colours["health_color"].to_list(),
                colours["accounts"].to_list(),
                ylabel=w.accounts,
                empty=w.no_data,
                colours=[charts.colour_of(c) for c in colours["health_color"].to_list()],
            ),
        ),
        _Chart(
            "score-trend",
            w.score_trend,
            charts.lines(
                [str(day) for day in trend["snapshot_date"].to_list()],
                {w.score: trend["average_score"].to_list()},
                ylabel=w.score,
                empty=w.no_data,
            ),
        ),
        _Chart(
            "retention",
            w.retention,
            charts.lines(
                quarter_labels,
                {w.grr: quarters["grr"].to_list(), w.nrr: quarters["nrr"].to_list()},
                ylabel=w.rate,
                empty=w.no_data,
                percent=True,
            ),
            _table(
                quarters.filter(pl.col("group") == EVERYONE).select(RETENTION_SHOWN),
                w,
                percent=("grr", "nrr", "logo_churn"),
            ),
        ),
        _Chart(
            "stage-cohorts",
            w.stage_cohorts,
            charts.grouped_bars(
                cohorts["stage"].to_list(),
                {
                    w.renewal_rate: cohorts["renewal_rate"].to_list(),
                    w.expansion_rate: cohorts["expansion_rate"].to_list(),
                },
                ylabel=w.rate,
                empty=w.no_data,
            ),
            _table(cohorts, w, percent=("renewal_rate", "expansion_rate")),
        ),
        _Chart(
            "at-risk-by-owner",
            w.at_risk,
            charts.bars(
                risk["owner"].to_list(),
                risk["arr"].to_list(),
                ylabel=w.arr,
                empty=w.no_data,
                horizontal=True,
            ),
        ),
        _Chart(
            "task-completion",
            w.task_completion,
            charts.grouped_bars(
                rules,
                {w.completion_rate: by_rule["completion_rate"].to_list()},
                ylabel=w.rate,
                empty=w.no_data,
            ),
            _table(by_rule, w, percent=("completion_rate",)),
        ),
        _Chart(
            "health-after-tasks",
            w.health_after_tasks,
            charts.bars(
                rules,
                by_rule["average_health_change"].to_list(),
                ylabel=w.health_change,
                empty=w.no_data,
                zero_is_data=True,
            ),
        ),
    ]


def _stage_rates(cohorts: pl.DataFrame) -> pl.DataFrame:
    """Each stage's cohorts together: renewed / renewals and expanded / accounts."""
    sums = cohorts.group_by("stage", maintain_order=True).agg(
        pl.col("accounts", "renewals", "renewed", "expanded").sum()
    )
    return sums.with_columns(
        renewal_rate=pl.when(pl.col("renewals") > 0).then(pl.col("renewed") / pl.col("renewals")),
        expansion_rate=pl.when(pl.col("accounts") > 0).then(
            pl.col("expanded") / pl.col("accounts")
        ),
    )


def _period(label: str, complete: bool, w: Wording) -> str:
    return label if complete else f"{label} ({w.partial})"


def _table(frame: pl.DataFrame, w: Wording, *, percent: tuple[str, ...] = ()) -> str:
    """A small HTML table; a null is "no data", never 0%."""
    if frame.height == 0:
        return f'<p class="note">{escape(w.no_data)}</p>'
    head = "".join(f"<th>{escape(w.columns[c])}</th>" for c in frame.columns)
    body = "".join(
        "<tr>"
        + "".join(f"<td>{escape(_cell(row[c], c in percent, w))}</td>" for c in frame.columns)
        + "</tr>"
        for row in frame.iter_rows(named=True)
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _cell(value: Any, percent: bool, w: Wording) -> str:
    if value is None:
        return f"— ({w.no_data})" if percent else "—"
    if percent:
        return f"{value:.1%}"
    if isinstance(value, bool):
        return w.yes if value else w.no
    if isinstance(value, float):
        return f"{value:,.0f}"
    return str(value)
