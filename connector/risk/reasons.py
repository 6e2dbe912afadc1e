"""Why an account's risk is high, in words its CSM reads: the features pushing its risk up
the most (coefficient × the account's standardised distance from the training mean), each
with its number — "Logins down 40% vs 8 weeks ago", "no decision-maker meeting in 120 days".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from connector.language import Language, LocalText, text_in, written_number, written_percent
from connector.risk.features import TREND_SUFFIX

if TYPE_CHECKING:
    from connector.risk.model import LinearModel

RECENCY_PREFIX = "days_since_"  # `days_since_x`: days since the last x
MAX_REASONS = 3
MIN_PUSH = 0.25  # log-odds: a feature moving risk less than this is not worth a CSM's time
MAX_LENGTH = 255  # a text field on both CRMs
SEPARATOR: dict[Language, str] = {"en": "; ", "ja": "、"}
WORDS: dict[str, dict[Language, str]] = {
    "down": {
        "en": "{label} down {change} vs {weeks} weeks ago",
        "ja": "{label}が{weeks}週間前より{change}減少",
    },
    "up": {
        "en": "{label} up {change} vs {weeks} weeks ago",
        "ja": "{label}が{weeks}週間前より{change}増加",
    },
    "recency": {"en": "no {label} in {days} days", "ja": "{label}なし（{days}日間）"},
    "low": {
        "en": "{label} low: {value} (average {mean})",
        "ja": "{label}が低い: {value}（平均{mean}）",
    },
    "high": {
        "en": "{label} high: {value} (average {mean})",
        "ja": "{label}が高い: {value}（平均{mean}）",
    },
}


def reasons(
    model: LinearModel,
    x: np.ndarray,
    features: Sequence[str],
    labels: Mapping[str, LocalText],
    language: Language,
    trend_days: int,
) -> list[str | None]:
    """Each account's reasons, strongest first, None where nothing pushes its risk up by
    `MIN_PUSH`. A missing value is never a reason (it was imputed, not seen)."""
    push = np.where(np.isnan(x), 0.0, model.contributions(x))
    top = np.argsort(-push, axis=1)[:, :MAX_REASONS]
    means = model.means
    texts: list[str | None] = []
    for row, picks in enumerate(top):
        said = [
            _words(features[j], float(x[row, j]), float(means[j]), labels, language, trend_days)
            for j in picks
            if push[row, j] >= MIN_PUSH
        ]
        texts.append(SEPARATOR[language].join(said)[:MAX_LENGTH] if said else None)
    return texts


def _words(
    feature: str,
    value: float,
    mean: float,
    labels: Mapping[str, LocalText],
    language: Language,
    trend_days: int,
) -> str:
    measure = feature.removesuffix(TREND_SUFFIX)
    label = text_in(labels.get(measure, _spoken(measure)), language)
    if feature.endswith(TREND_SUFFIX):
        change = written_percent(abs(value), language)
        kind = "down" if value < 0 else "up"
        return WORDS[kind][language].format(label=label, change=change, weeks=round(trend_days / 7))
    if measure.startswith(RECENCY_PREFIX):
        days = written_number(value, language)
        return WORDS["recency"][language].format(label=label, days=days)
    kind = "low" if value < mean else "high"
    return WORDS[kind][language].format(
        label=label, value=_number(value, language), mean=_number(mean, language)
    )


def _number(value: float, language: Language) -> str:
    return written_number(value, language, digits=0 if abs(value) >= 10 else 1)


def _spoken(measure: str) -> str:
    """A measure without a label, as words: `days_since_demo_call` → "demo call"."""
    return measure.removeprefix(RECENCY_PREFIX).replace("_", " ")
