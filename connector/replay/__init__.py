"""Replay: what a plan is made from — the extracted CRM records and usage, what the history
store knows, the CRM's keyed tasks — gathered once, live or from a saved snapshot, so a run,
`plan --compare` and a replay in CI evaluate and plan the same data the same way."""

from connector.replay.inputs import (
    Evaluated,
    RunInputs,
    emailed_accounts,
    evaluate_inputs,
    read_live,
)

__all__ = ["Evaluated", "RunInputs", "emailed_accounts", "evaluate_inputs", "read_live"]
