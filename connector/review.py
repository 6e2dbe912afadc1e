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
        base, label = _base_config(settings, other, Path(scratch))
    if snapshot is None:
        return _review_live(settings, base, head, label)
    inputs, tasks, ledger = load_snapshot(snapshot, head, settings.crm)
    _check_fits(inputs, base, label)
    evaluated = [evaluate_inputs(config, inputs, settings) for config in (base, head)]
    base_side, head_side = (_side(settings, e, inputs, tasks, ledger) for e in evaluated)
    impact = compare(base_side, head_side)
    return Review(label, HEAD_LABEL, impact, base_side, head_side, ApiUsage(), 0)


def _base_config(settings: Settings, other: str, scratch: Path) -> tuple[Config, str]:
    """The configuration compared with, parsed and checked, and how the report names it."""
    folders = config_folders(other, settings.mappings_dir, settings.playbooks_dir, scratch)
    base_settings = settings.model_copy(
        update={"mappings_dir": folders.mappings_dir, "playbooks_dir": folders.playbooks_dir}
    )
    try:
        return load_checked_config(base_settings), folders.label
    except ConfigError as exc:
        said = str(exc).replace(f"{scratch}/", f"{folders.label}:")  # main:playbooks/rules.yaml:12
        raise RevisionError(
            f"the configuration at {folders.label} does not load:\n{said}"
        ) from None


def _review_live(settings: Settings, base: Config, head: Config, label: str) -> Review:
    """The CRM and usage API read once for both: the extract, then one ask for the tasks
    either configuration's firings might already have."""
    store = HistoryStore.open(settings.state_database_url.get_secret_value())
    try:
        with closing(connect(settings, head.mapping, store)) as crm:
            check_against_crm(crm, head)
            inputs = read_live(crm, store, [head, base], settings, settings.today)
            _check_fits(inputs, base, label)
            evaluated = [evaluate_inputs(config, inputs, settings) for config in (base, head)]
            firings = [Firings.of(e.evaluation, e.config) for e in evaluated]
            tasks = TaskState.read(crm, firings, inputs.as_of)
            base_side, head_side = (_side(settings, e, inputs, tasks, store) for e in evaluated)
            impact = compare(base_side, head_side)
            usage_calls = inputs.extracted.usage.api_calls
            return Review(label, HEAD_LABEL, impact, base_side, head_side, crm.usage, usage_calls)
    finally:
        store.close()


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
        inputs.closed_deals(evaluated.config)[1],
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
