"""A fitted churn model as the history store keeps it: JSON numbers under the fingerprint
of what it learnt from, so a run loads the day's model instead of fitting it again, and
new closed deals, new snapshots, other settings or a new day fit a new one."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

from connector.risk.training import Window

if TYPE_CHECKING:  # numpy loads with a model, not with every run that finds none
    from connector.risk.model import Backtest, LinearModel

FORMAT = 1  # bumped when what a saved model means changes: older ones are refitted


@dataclass(frozen=True, slots=True)
class SavedModel:
    """What training produced, without today's trend baselines (read each run)."""

    model: LinearModel
    features: list[str]
    measures: list[str]
    renewals: int
    churned: int
    dropped: int
    backtest: Backtest | None

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "model": self.model.to_json(),
            "features": self.features,
            "measures": self.measures,
            "renewals": self.renewals,
            "churned": self.churned,
            "dropped": self.dropped,
            "backtest": None if self.backtest is None else self.backtest.to_json(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SavedModel:
        from connector.risk.model import Backtest, LinearModel

        test = data["backtest"]
        return cls(
            LinearModel.from_json(data["model"]),
            [str(f) for f in data["features"]],
            [str(m) for m in data["measures"]],
            int(data["renewals"]),
            int(data["churned"]),
            int(data["dropped"]),
            None if test is None else Backtest.from_json(test),
        )


def fingerprint(
    renewals: pl.DataFrame, snapshots: list[Any], window: Window, needs: tuple[int, int]
) -> str:
    """The renewals learnt from (account, close date, outcome), the snapshots' stamp
    (`HistoryStore.snapshot_stamp`), the window and the history a model needs, hashed."""
    ordered = renewals.select("account_id", "close_date", "churned").sort(
        "account_id", "close_date", "churned"
    )
    digest = hashlib.sha256(ordered.write_csv().encode())
    context = {"format": FORMAT, "snapshots": snapshots, "window": asdict(window), "needs": needs}
    digest.update(json.dumps(context, sort_keys=True).encode())
    return digest.hexdigest()
