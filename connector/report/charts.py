"""Charts as inline SVG, drawn by matplotlib in Python: the page needs no script and no
network to open, and a browser draws the text in its own fonts (Japanese included)."""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Sequence

import matplotlib as mpl
from matplotlib.axes import Axes
from matplotlib.colors import is_color_like
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

SIZE = (7.0, 3.2)  # inches: a chart as wide as the page's text
DEFAULT_BAR = "#4c78a8"
SECOND_BAR = "#f58518"


def bars(
    labels: Sequence[str],
    values: Sequence[float | None],
    *,
    ylabel: str,
    empty: str,
    colours: Sequence[str] | None = None,
    horizontal: bool = False,
    zero_is_data: bool = False,
) -> str:
    """One bar per label; a missing value has no bar. `empty` is written across the axes
    when there is nothing: no value, or (unless `zero_is_data`: a change of 0 is one) only
    zeros, as counts of nothing."""
    figure, axes = _figure()
    fill = colours or [DEFAULT_BAR] * len(labels)
    heights = [math.nan if v is None else v for v in values]
    if horizontal:
        axes.barh(list(labels), heights, color=list(fill))
        axes.invert_yaxis()
        axes.set_xlabel(ylabel)
    else:
        axes.bar(list(labels), heights, color=list(fill))
        axes.set_ylabel(ylabel)
    known = [v for v in heights if not math.isnan(v)]
    if not (known if zero_is_data else any(known)):
        _say(axes, empty)
    return _svg(figure)


def grouped_bars(
    labels: Sequence[str],
    series: dict[str, Sequence[float | None]],
    *,
    ylabel: str,
    empty: str,
) -> str:
    """Bars side by side per label, one colour per series; rates as percentages."""
    figure, axes = _figure()
    width = 0.8 / max(len(series), 1)
    for index, (name, values) in enumerate(series.items()):
        xs = [i + index * width for i in range(len(labels))]
        heights = [math.nan if v is None else v for v in values]
        colour = (DEFAULT_BAR, SECOND_BAR)[index % 2]
        axes.bar(xs, heights, width=width, label=name, color=colour)
    axes.set_xticks([i + width * (len(series) - 1) / 2 for i in range(len(labels))], labels)
    axes.yaxis.set_major_formatter(PercentFormatter(1.0))
    axes.set_ylabel(ylabel)
    if labels:
        axes.legend(loc="upper right")
    if not _has_values(series):
        _say(axes, empty)
    return _svg(figure)


def lines(
    labels: Sequence[str],
    series: dict[str, Sequence[float | None]],
    *,
    ylabel: str,
    empty: str,
    percent: bool = False,
) -> str:
    """A line per series over `labels`; a missing value leaves a gap, never a zero."""
    figure, axes = _figure()
    for name, values in series.items():
        axes.plot(
            list(labels), [math.nan if v is None else v for v in values], marker="o", label=name
        )
    if percent:
        axes.yaxis.set_major_formatter(PercentFormatter(1.0))
    axes.set_ylabel(ylabel)
    axes.tick_params(axis="x", labelrotation=45)
    if len(series) > 1 and labels:
        axes.legend(loc="best")
    if not _has_values(series):
        _say(axes, empty)
    return _svg(figure)


def colour_of(name: str | None) -> str:
    """A health colour's own name when it is one (Green, Red), else the default."""
    return name.lower() if name and is_color_like(name.lower()) else DEFAULT_BAR


def _has_values(series: dict[str, Sequence[float | None]]) -> bool:
    return any(v is not None and not math.isnan(v) for values in series.values() for v in values)


def _figure() -> tuple[Figure, Axes]:
    figure = Figure(figsize=SIZE, layout="constrained")
    return figure, figure.add_subplot()


def _say(axes: Axes, text: str) -> None:
    axes.text(0.5, 0.5, text, transform=axes.transAxes, ha="center", va="center", fontsize=12)


def _svg(figure: Figure) -> str:
    """The figure as an `<svg>` element, without the XML prolog, the same bytes every time.

    Text stays text (svg.fonttype none); matplotlib's own font has no Japanese glyphs and
    warns while measuring it, which does not matter: the browser draws it."""
    buffer = io.StringIO()
    with (
        mpl.rc_context({"svg.fonttype": "none", "svg.hashsalt": "cs-connector"}),
        warnings.catch_warnings(),
    ):
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from font")
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg") :]
