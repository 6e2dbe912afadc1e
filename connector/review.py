"""`plan --compare`: two configurations evaluated and planned on the same data — the CRM
and usage API read once (or a snapshot), the CRM's tasks asked about once for both — and
what the change would do."""

from __future__ import annotations

import tempfile
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from connector.checks import check_against_crm, load_checked_config
from connector.config.load import Config
from connector.config.revision import config_folders
from connector.crm.connect import connect
from connector.crm.protocol import ApiUsage
from connector.errors import ConfigError, RevisionError
from connector.plan.build import MessageLedger, plan_from
from connector.plan.impact import Impact, Side, compare
from connector.plan.state import Firings, TaskState
from connector.replay import Evaluated, RunInputs, evaluate_inputs, read_live
from connector.replay.inputs import missing_columns
from connector.replay.snapshot import load_snapshot
from connector.settings import Settings
from connector.store import HistoryStore

HEAD_LABEL = "this change"  # the configuration in MAPPINGS_DIR and PLAYBOOKS_DIR


@dataclass(frozen=True)
class Review:
    """The impact of `head` (the working configuration) over `base` (the one compared with)."""

    base_label: str
    head_label: str
    impact: Impact
    base: Side
    head: Side
    crm_api: ApiUsage
    usage_api_calls: int


def review_change(settings: Settings, other: str, snapshot: Path | None = None) -> Review:
    """Evaluate and plan the settings' configuration (head) and `other` (base: a Git ref or
    a folder) on one read of the data — live, or from `snapshot`."""
    head = load_checked_config(settings)
    with tempfile.TemporaryDirectory(prefix="cs-connector-compare-") as scratch:
        folders = config_folders(
            other, settings.mappings_dir, settings.playbooks_dir, Path(scratch)
        )
        base_settings = settings.model_copy(
            update={"mappings_dir": folders.mappings_dir, "playbooks_dir": folders.playbooks_dir}
        )
        try:
            base = load_checked_config(base_settings)
        except ConfigError as exc:
            raise RevisionError(
                f"the configuration at {folders.label} does not load:\n{exc}"
            ) from None
        label = HEAD_LABEL
        if snapshot is not None:
            inputs, tasks, ledger = load_snapshot(snapshot, head, settings.crm)
            _check_fits(inputs, base, folders.label)
            sides = _plan_both(settings, [base, head], inputs, tasks, ledger)
            return Review(folders.label, label, compare(*sides), *sides, ApiUsage(), 0)
        return _review_live(settings, base, head, folders.label, label)


def _review_live(
    settings: Settings, base: Config, head: Config, base_label: str, head_label: str
) -> Review:
    store = HistoryStore.open(settings.state_database_url.get_secret_value())
    try:
        with closing(connect(settings, head.mapping, store)) as crm:
            check_against_crm(crm, head)
            inputs = read_live(crm, store, [head, base], settings, settings.today)
            _check_fits(inputs, base, base_label)
            evaluated = [evaluate_inputs(c, inputs, settings) for c in (base, head)]
            tasks = TaskState.read(
                crm, [Firings.of(e.evaluation, e.config) for e in evaluated], inputs.as_of
            )
            base_side, head_side = (_side(settings, e, inputs, tasks, store) for e in evaluated)
            return Review(
                base_label,
                head_label,
                compare(base_side, head_side),
                base_side,
                head_side,
                crm.usage,
                inputs.extracted.usage.api_calls,
            )
    finally:
        store.close()


def _plan_both(
    settings: Settings,
    configs: list[Config],
    inputs: RunInputs,
    tasks: TaskState,
    ledger: MessageLedger,
) -> tuple[Side, Side]:
    base, head = (
        _side(settings, evaluate_inputs(c, inputs, settings), inputs, tasks, ledger)
        for c in configs
    )
    return base, head


def _side(
    settings: Settings,
    evaluated: Evaluated,
    inputs: RunInputs,
    tasks: TaskState,
    ledger: MessageLedger,
) -> Side:
    evaluation = evaluated.evaluation
    plan = plan_from(
        evaluated.config,
        evaluation,
        tasks,
        inputs.link,
        ledger,
        inputs.extracted.records.contacts,
        inputs.as_of,
        settings,
    )
    return Side(plan, evaluation.table)


def _check_fits(inputs: RunInputs, base: Config, label: str) -> None:
    """The data was read for the working configuration: one compared with must not map
    fields it lacks."""
    missing = missing_columns(inputs, base)
    if missing:
        raise RevisionError(
            f"the configuration at {label} maps {', '.join(missing)}, which the working "
            "configuration does not read: compare configurations that map the same fields."
        )
