"""`plan --compare` as Markdown, for a pull-request comment: the totals, tasks by rule and
by owner, the accounts whose colour, tier or stage moves (named), every changed task and
email in a fold, and the limits the change exceeds."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from connector.plan.impact import Change, Move

if TYPE_CHECKING:  # the review, the CRM and the store load when `plan --compare` runs
    from connector.review import Review

MOVE_TITLES = {
    "health_color": "Health colour moves",
    "touch_tier": "Touch tier moves",
    "journey_stage": "Journey stage moves",
}
NAMES_SHOWN = 20  # accounts named in one cell before "and N more"


def impact_markdown(review: Review, breaches: Sequence[str]) -> str:
    impact = review.impact
    lines = [
        f"## Playbook change: {review.head_label} compared with `{_cell(review.base_label)}`",
        "",
        f"Same data for both: {review.base.table.height} accounts, CRM API calls "
        f"{review.crm_api.calls}, usage API calls {review.usage_api_calls}.",
        "",
    ]
    if impact.is_empty:
        return "\n".join([*lines, "No task, email, Slack post, colour, tier or stage changes.", ""])
    lines += _totals(review)
    lines += _by(impact.tasks, "Tasks by rule", "Rule", lambda c: c.rule_id)
    lines += _by(impact.tasks, "Tasks by owner", "Owner", lambda c: c.owner)
    lines += _by(impact.emails, "Emails by rule", "Rule", lambda c: c.rule_id)
    lines += _moves(impact.moves)
    lines += _details("Every task added, removed or altered", impact.tasks)
    lines += _details("Every email added, removed or altered", impact.emails)
    if breaches:
        lines += ["### Over the limits", "", *(f"- :x: {_cell(b)}" for b in breaches), ""]
    return "\n".join(lines)


def _totals(review: Review) -> list[str]:
    impact, base, head = review.impact, review.base.plan, review.head.plan
    rows = [
        (
            "Tasks",
            len(base.tasks) + len(base.deferred),
            len(head.tasks) + len(head.deferred),
            impact.tasks,
        ),
        (
            "Emails",
            len(base.emails) + len(base.emails_waiting),
            len(head.emails) + len(head.emails_waiting),
            impact.emails,
        ),
        ("Slack posts", len(base.slack), len(head.slack), impact.slack),
    ]
    lines = [
        "| | before | after | added | removed | altered |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {what} | {before} | {after} | {impact.count(c, 'added')} | "
        f"{impact.count(c, 'removed')} | {impact.count(c, 'altered')} |"
        for what, before, after, c in rows
    ]
    return [*lines, ""]


def _by(
    changes: Sequence[Change], title: str, header: str, group: Callable[[Change], str]
) -> list[str]:
    if not changes:
        return []
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for change in changes:
        counts[group(change)][change.change] += 1
    lines = [
        f"### {title}",
        "",
        f"| {header} | added | removed | altered |",
        "| --- | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {_cell(name)} | {c['added']} | {c['removed']} | {c['altered']} |"
        for name, c in sorted(counts.items())
    ]
    return [*lines, ""]


def _moves(moves: Sequence[Move]) -> list[str]:
    lines = []
    for what, title in MOVE_TITLES.items():
        grouped: dict[tuple[str, str], list[str]] = defaultdict(list)
        for move in (m for m in moves if m.what == what):
            grouped[(move.before or "—", move.after or "—")].append(move.account_name)
        if not grouped:
            continue
        lines += [f"### {title}", "", "| move | accounts | which |", "| --- | ---: | --- |"]
        for (before, after), names in sorted(grouped.items()):
            shown = ", ".join(_cell(n) for n in names[:NAMES_SHOWN])
            more = f" and {len(names) - NAMES_SHOWN} more" if len(names) > NAMES_SHOWN else ""
            lines.append(f"| {_cell(before)} → {_cell(after)} | {len(names)} | {shown}{more} |")
        lines.append("")
    return lines


def _details(title: str, changes: Sequence[Change]) -> list[str]:
    if not changes:
        return []
    lines = [
        f"<details><summary>{title} ({len(changes)})</summary>",
        "",
        "| change | rule | account | owner | what differs |",
        "| --- | --- | --- | --- | --- |",
    ]
    lines += [
        f"| {c.change} | {_cell(c.rule_id)} | {_cell(c.account_name)} | {_cell(c.owner)} | "
        f"{_cell(c.detail)} |"
        for c in changes
    ]
    return [*lines, "", "</details>", ""]


def _cell(text: str) -> str:
    """CRM text in a Markdown table cell: pipes escaped, one line, no HTML."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace("\n", " ")
