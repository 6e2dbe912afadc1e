"""How `plan --compare` reports: Markdown for a pull-request comment (to stdout or a file),
or the same rendered for a terminal; and which of RevOps' limits the change exceeds."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from connector.cli.impact_report import impact_markdown
from connector.plan.impact import Limits, over_limits

if TYPE_CHECKING:  # the CLI imports `ReportFormat` at start; the review only on --compare
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
        from rich.markdown import Markdown  # markdown-it and pygments: ~80 ms, --compare only

        console.print(Markdown(text))
    return breaches
