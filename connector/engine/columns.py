"""The columns of the account table at each step of evaluation, known before any data is read.

`validate` checks every expression against these, so a misspelt column fails at load time.
"""

from __future__ import annotations

from connector.config.load import Config
from connector.engine.health import health_columns
from connector.engine.journey import JOURNEY_COLUMNS
from connector.frame import frame_columns


def scoring_columns(config: Config) -> list[str]:
    """What measures, segments and tiers can use: the frame, and the tier once assigned."""
    tier = ["touch_tier"] if config.touch_tiers is not None else []
    return [*frame_columns(config.mapping), *tier]


def evaluated_columns(config: Config) -> list[str]:
    """Every column the account table has after evaluation, in a stable order."""
    journey = JOURNEY_COLUMNS if config.journey is not None else []
    return [*scoring_columns(config), *health_columns(config.health), *journey]
