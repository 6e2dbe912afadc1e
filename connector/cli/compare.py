"""How `plan --compare` reports: Markdown for a pull-request comment (to stdout or a file),
or the same rendered for a terminal; and which of RevOps' limits the change exceeds."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from rich.console import Console
from rich.markdown import Markdown

from connector.cli.impact_report import impact_markdown
from connector.plan.impact import Limits, over_limits
from connector.review import Review


class ReportFormat(StrEnum):
    TEXT = "text"
    MARKDOWN = "markdown"


def report_change(
    console: Console, review: Review, limits: Limits, form: ReportFormat, to: Path | None
) -> list[str]:
    """Write the report; the limits exceeded, each a sentence (empty: within them)."""
    breaches = over_limits(review.impact, limits)
    text = impact_markdown(review, breaches)
    if to is not None:
        to.write_text(text)
        console.print(f"The comparison is in {to}.")
    elif form is ReportFormat.MARKDOWN:
        console.file.write(text)
    else:
        console.print(Markdown(text))
    return breaches
