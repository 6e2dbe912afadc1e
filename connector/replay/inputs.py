"""The inputs of a plan, read once: the extract and the store's state before the run."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

import polars as pl

from connector.config.load import Config
from connector.crm.protocol import CrmAdapter
from connector.engine.evaluate import Evaluation, evaluate
from connector.extract import (
    Extracted,
    SideBySide,
    UsageRead,
    read_crm,
    usage_read_started,
    with_usage_read,
)
from connector.frame import CURRENT_PREFIX, Extract
from connector.frame.build import (
    CrmFrame,
    PackedCrmFrame,
    crm_frame,
    window_start,
    with_usage,
)
from connector.frame.deals import closed_deals
from connector.frame.usage import TenantUsage, columns_read, tenant_usage
from connector.logs import event
from connector.packed import PackedFrame
from connector.plan.build import MessageLedger, digest_kpis
from connector.report.headline import HeadlineKpis
from connector.risk import RiskOptions, score
from connector.risk.churn import (
    TooLittleHistory,
    Trained,
    day_model,
    measure_labels,
    ready_to_score,
)
from connector.settings import Settings
from connector.store import HistoryStore

log = logging.getLogger("connector.run")
RECORD_ID = "{id}"  # where a record id goes in `RunInputs.record_url`


def emailed_accounts(config: Config, firings: pl.DataFrame) -> pl.Series:
    """The accounts a rule with an email action fired for: the only ones whose contacts
    planning reads (an email goes to its account's contacts)."""
    emailing = [rule.id for rule in config.rules if any(a.send_email for a in rule.actions)]
    return firings.filter(pl.col("rule_id").is_in(emailing))["account_id"].unique()


@dataclass(frozen=True)
class RunInputs:
    """What evaluation reads besides the configuration: the extract, and from the history
    store the daily snapshots a trend needs, the kept stages, the lifetime usage totals and
    the churn-risk model learnt from it (None offline: no risk is written)."""

    as_of: date
    extracted: Extracted
    history: pl.DataFrame
    kept: pl.DataFrame
    usage_totals: pl.DataFrame
    record_url: str  # an account's URL in the CRM, with RECORD_ID for its id
    risk: Trained | TooLittleHistory | None = None
    framed: Framed | None = None  # what the CRM's records alone decide, made while reading
    tenants: Tenants | None = None  # the usage weeks made into signals (`for_evaluating`)
    table: AccountTable | None = None  # made of them and the CRM's (`with_account_table`)

    def link(self, record_id: str) -> str:
        return self.record_url.replace(RECORD_ID, record_id)

    def closed_deals(self, config: Config) -> tuple[pl.DataFrame, HeadlineKpis | None]:
        """The closed deals of the opportunities read, and the digest's headline KPIs of
        them (`digest_kpis`): made while the usage read went on, if made for `config`."""
        framed = self.framed_for(config)
        if framed is not None:
            return framed.deals, framed.kpis
        return closed_and_kpis(self.extracted.records.opportunities, config, self.as_of)

    def without_closed_deals(self) -> RunInputs:
        """The inputs without the closed deals made while reading (`Framed`), once the run
        took them (`closed_deals`; the headline KPIs stay): at 100,000 accounts they are
        ~15 MB, and the run holds only what changed of them to record (`run.py`)."""
        if self.framed is None:
            return self
        return replace(self, framed=replace(self.framed, deals=self.framed.deals.clear()))

    def _contacts_for_planning(self, emailed: pl.Series | None) -> pl.DataFrame | None:
        """The contacts read (packed while reading, if a run packed them), only those of
        the `emailed` accounts if given."""
        contacts = self.extracted.records.contacts
        packed = None if self.framed is None else self.framed.contacts
        theirs = None
        if contacts is not None and emailed is not None:
            accounts = emailed.cast(contacts.schema["account_id"], strict=False)
            theirs = pl.col("account_id").is_in(accounts.implode())
        if packed is not None:
            return packed.rows(where=theirs)
        return contacts if contacts is None or theirs is None else contacts.filter(theirs)

    def framed_for(self, config: Config) -> Framed | None:
        """What was made while reading, if it was made for `config`."""
        framed = self.framed
        return framed if framed is not None and framed.config is config else None

    def for_evaluating(self, config: Config) -> RunInputs:
        """The inputs without what evaluating `config` no longer reads of them: the records
        the CRM columns were made from while reading (`framed`), and the usage weeks and
        stored lifetime totals, made into each tenant's signals here (`tenants`). A run
        read with `whole=False` holds only what `_framed_once` kept of the records by now
        (the usage check has read the accounts' keys). At 100,000 accounts the records
        read whole are about 125 MB, the weeks 70 MB and the totals 20 MB. The usage weeks
        to save go too: a run saves them once the usage check passed, before evaluating.
        Unchanged if nothing was made for `config`."""
        records = self.extracted.records
        if self.framed_for(config) is None:
            return self
        tenants = Tenants.of(config, self)
        meetings = None if records.meetings is None else records.meetings.clear()
        read = replace(
            records,
            accounts=records.accounts.clear(),
            opportunities=records.opportunities.clear(),
            meetings=meetings,
            usage=records.usage.clear(),
        )
        usage = replace(self.extracted.usage, weekly=self.extracted.usage.weekly.clear())
        return replace(
            self,
            extracted=Extracted(read, usage),
            usage_totals=self.usage_totals.clear(),
            tenants=tenants,
        )

    def with_account_table(self, config: Config, settings: Settings) -> RunInputs:
        """`for_evaluating`'s inputs with the account table evaluating `config` reads made
        (`frame_inputs`), and without what it was made of: the CRM's columns (packed until
        now) and each tenant's signals, which the table holds copied. A step of its own,
        once the caller has let go of the usage weeks (`for_evaluating`): a rerun's, read
        whole, are ~90 MB. Unchanged if nothing was made for `config`."""
        framed = self.framed_for(config)
        if framed is None:
            return self
        table = AccountTable(config, *frame_inputs(config, self, settings))
        return replace(self, framed=replace(framed, crm=None), tenants=None, table=table)

    def for_planning(self, emailed: pl.Series | None = None) -> RunInputs:
        """The inputs with only what planning reads of them once they are evaluated: the
        contacts (whom an email goes to), the run date, the record link and the churn
        model's verdict. The accounts (now columns of the evaluated table), usage weeks,
        each tenant's signals (48 MB), meetings, opportunities and stored history, empty
        here, are most of what a run holds: at 100,000 accounts planning peaks about 130 MB
        lower without them. Given the accounts an email may go to (`emailed_accounts`),
        only their contacts are kept: a few thousand of 500,000, ~80 MB."""
        records, usage = self.extracted.records, self.extracted.usage
        kept = Extract(
            records.accounts.clear(),
            records.opportunities.clear(),
            records.usage.clear(),
            self._contacts_for_planning(emailed),
            usage_since=records.usage_since,
        )
        emptied = replace(usage, weekly=usage.weekly.clear())
        return replace(
            self,
            extracted=Extracted(kept, emptied),
            history=self.history.clear(),
            kept=self.kept.clear(),
            usage_totals=self.usage_totals.clear(),
            framed=None,
            tenants=None,
            table=None,
        )

    def contacts_set_aside(self) -> tuple[PackedFrame | None, RunInputs]:
        """The contacts planning reads, packed, and the inputs without them: read only when
        the emails are addressed, at the plan's end, they were held (~20 MB for the
        accounts an email may go to at 100,000) through its key look-ups and joins, where
        a daily run peaks."""
        contacts = self.extracted.records.contacts
        if contacts is None:
            return None, self
        records = replace(self.extracted.records, contacts=contacts.clear())
        return PackedFrame.of(contacts), replace(
            self, extracted=replace(self.extracted, records=records)
        )


@dataclass(frozen=True)
class Tenants:
    """Each tenant's usage as `config`'s account table joins it, made from the inputs' usage
    weeks and stored lifetime totals (`tenant_usage`), and how many weeks were read."""

    config: Config
    since: date  # the usage read window's first day
    usage: TenantUsage
    rows: int

    @classmethod
    def of(cls, config: Config, inputs: RunInputs) -> Tenants:
        usage, weekly = config.mapping.usage, inputs.extracted.weeks()
        since = window_start(inputs.extracted.records.usage_since, weekly, inputs.as_of)
        made = tenant_usage(
            weekly,
            inputs.usage_totals,
            usage.metrics,
            inputs.as_of,
            since=since,
            levels=usage.levels,
            read=columns_read(usage.metrics, config.words()),
        )
        return cls(config, since, made, weekly.select(pl.len()).collect().item())


@dataclass(frozen=True)
class AccountTable:
    """The account table evaluating `config` reads, and the lifetime totals to store next."""

    config: Config
    table: pl.DataFrame
    next_totals: pl.DataFrame


@dataclass(frozen=True)
class Framed:
    """What the CRM's records alone decide, made for `config` while the usage read was
    still going: the account table's CRM columns (`crm_frame`, packed until `frame_inputs`
    adds the usage to them; None once it has: `with_account_table`), the closed deals and
    the digest's headline KPIs."""

    config: Config
    crm: PackedCrmFrame | None
    deals: pl.DataFrame
    kpis: HeadlineKpis | None
    contacts: PackedFrame | None = None  # packed as they were read, until planning

    @classmethod
    def of(cls, records: Extract, config: Config, as_of: date, settings: Settings) -> Framed:
        crm = PackedCrmFrame.of(_crm_columns(records, config, as_of, settings))
        return cls(config, crm, *closed_and_kpis(records.opportunities, config, as_of))


def _crm_columns(records: Extract, config: Config, as_of: date, settings: Settings) -> CrmFrame:
    """`crm_frame` of the records, dated in the team's time zone and written in its language."""
    zone, language = settings.schedule_timezone, settings.team_language
    return crm_frame(records, config.mapping, as_of, zone, language)


def closed_and_kpis(
    opportunities: pl.DataFrame, config: Config, as_of: date
) -> tuple[pl.DataFrame, HeadlineKpis | None]:
    """The closed deals among `opportunities`, and the digest's headline KPIs of them."""
    deals = closed_deals(opportunities, config.mapping)
    return deals, digest_kpis(config, deals, as_of)


@dataclass(frozen=True)
class Evaluated:
    """One configuration evaluated on the inputs, and the lifetime totals to store next."""

    config: Config
    evaluation: Evaluation
    next_totals: pl.DataFrame


def read_live(
    crm: CrmAdapter,
    store: HistoryStore,
    configs: Sequence[Config],
    settings: Settings,
    as_of: date,
    usage: UsageRead | None = None,
    *,
    whole: bool = True,
) -> RunInputs:
    """The CRM and usage read once for the first configuration (the one that runs), the
    store's history wide enough for every configuration's trend window. The store's reads
    go beside the CRM's and the usage API's, whose answers they do not need: a run spends
    most of its reading waiting for those servers. `usage`: the usage read the caller
    started, None: started here. `whole`: keep every record read, for another
    configuration or a snapshot; else only what a run of the first reads of them once
    their columns are made (`_framed_once`)."""
    config = configs[0]
    reach = max(c.health.trend_days + c.health.trend_tolerance_days for c in configs)
    options = RiskOptions.of(settings)
    with ThreadPoolExecutor(1, thread_name_prefix="store") as pool:
        store_reads = SideBySide(pool)
        since = as_of - timedelta(days=reach)
        history = store_reads.submit(_packed, store.snapshots, since, as_of)
        kept = store_reads.submit(_packed, store.stages)
        usage_totals = store_reads.submit(_packed, store.usage_totals)
        model = store_reads.submit(day_model, store, as_of, options)
        try:
            whole = whole or len(configs) > 1
            extracted, framed = _read_and_frame(crm, config, settings, as_of, store, usage, whole)
        except BaseException:
            store_reads.stop()
            raise
    accounts = extracted.records.accounts["id"]
    return RunInputs(
        as_of,
        extracted,
        history=history.result().rows(),
        kept=kept.result().rows(),
        usage_totals=usage_totals.result().rows(),
        record_url=crm.record_url(config.mapping.account.object, RECORD_ID),
        risk=_logged(ready_to_score(store, model.result(), options, accounts)),
        framed=framed,
    )


def _packed(read: Callable[..., pl.DataFrame], *args: Any) -> PackedFrame:
    """`read`'s frame, packed: the store's reads end long before the CRM's, and their
    frames (at 100,000 accounts the lifetime totals' JSON and the kept stages, ~45 MB)
    were held beside the CRM's records, where a daily run's reads peak."""
    return PackedFrame.of(read(*args))


def _read_and_frame(
    crm: CrmAdapter,
    config: Config,
    settings: Settings,
    as_of: date,
    store: HistoryStore,
    usage: UsageRead | None,
    whole: bool,
) -> tuple[Extracted, Framed]:
    """The extract, and what the CRM's records alone decide (`Framed`), made once the CRM's
    reads are in: the usage read, the longest of a daily run (its restated weeks are a
    cursor each, page after page), is still going then, and the run would otherwise only
    wait for it. `whole`: keep every record read (else `_framed_once`)."""
    if usage is None:
        with usage_read_started(settings, config, as_of, store) as started:
            return _read_and_frame(crm, config, settings, as_of, store, started, whole)
    if whole:
        records = read_crm(crm, config, settings, as_of, keyed_tasks=True)
        framed = Framed.of(records, config, as_of, settings)  # before the usage read ends
        return with_usage_read(records, usage), framed
    # handed over in a list, which `_framed_once` empties: an argument would stay
    # referenced here until it returned, and it lets go of each part as it goes
    read = [read_crm(crm, config, settings, as_of, keyed_tasks=True, rolled_up=True)]
    kept, framed = _framed_once(read, config, as_of, settings)
    return with_usage_read(kept, usage, unpack=False), framed


def _framed_once(
    read: list[Extract], config: Config, as_of: date, settings: Settings
) -> tuple[Extract, Framed]:
    """`Framed.of` the records `read` hands over (its one item, taken, read with
    `rolled_up`), keeping of them only what a run reads once their columns are made: the
    accounts' ids and usage keys (the churn model and the usage check read them), how many
    opportunities there were, and the contacts packed until planning unpacks the few it
    reads (`RunInputs.for_planning`). The accounts go before the closed deals and headline
    KPIs are made of the opportunities. At 100,000 accounts the accounts are ~40 MB and
    the opportunities ~45, held until the usage read ends, where an unchanged run peaked."""
    records = read.pop()
    crm = PackedCrmFrame.of(_crm_columns(records, config, as_of, settings))
    keys = dict.fromkeys(["id", config.mapping.usage.join_key])
    packed = records.packed_contacts
    records = replace(
        records,
        accounts=records.accounts.select(list(keys)),
        meetings=None if records.meetings is None else records.meetings.clear(),
        meeting_rollup=None,  # made into the CRM's columns
        reach_choices=None,
        packed_contacts=None,  # held by `Framed`
    )
    deals, kpis = closed_and_kpis(records.opportunities, config, as_of)
    records = replace(records, opportunities=records.opportunities.select("id"))
    return records, Framed(config, crm, deals, kpis, packed)


def frame_inputs(
    config: Config, inputs: RunInputs, settings: Settings
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The account table evaluation reads, and the lifetime usage totals to store next."""
    made = inputs.table
    if made is not None and made.config is config:
        return made.table, made.next_totals
    records, tenants = inputs.extracted.records, inputs.tenants
    if tenants is None or tenants.config is not config:
        tenants = Tenants.of(config, inputs)
    framed = inputs.framed_for(config)
    if framed is not None and framed.crm is not None:
        crm = framed.crm.unpacked()
    else:  # not made while reading (a replay), or for another configuration
        crm = _crm_columns(records, config, inputs.as_of, settings)
    read = replace(
        records,
        usage_since=tenants.since,
        usage_totals=tenants.usage.totals,
        usage_signals=tenants.usage.signals,
        usage_rows=tenants.rows,
    )
    table = with_usage(crm, read, config.mapping, inputs.as_of)
    return table, tenants.usage.next_totals


def evaluate_inputs(config: Config, inputs: RunInputs, settings: Settings) -> Evaluated:
    """Frame and evaluate: the same table in, the same evaluation out."""
    table, next_totals = frame_inputs(config, inputs, settings)
    evaluation = evaluate(
        table,
        config,
        as_of=inputs.as_of,
        history=inputs.history,
        kept=inputs.kept,
        language=settings.team_language,
        risk=_scorer(inputs, config, settings),
    )
    if isinstance(inputs.risk, Trained) and inputs.risk.withheld:
        evaluation = replace(evaluation, risk_withheld=True)
    return Evaluated(config, evaluation, next_totals)


def _logged(model: Trained | TooLittleHistory) -> Trained | TooLittleHistory:
    """The model logged with its numbers (and its backtest's AUC beside the health score's
    alone; `churn_risk_withheld` when that does not show it better), or why there is none."""
    if isinstance(model, TooLittleHistory):
        event(log, "churn_risk_not_trained", reason=model.message)
        return model
    test = model.backtest
    event(
        log,
        "churn_risk_withheld" if model.withheld else "churn_risk_trained",
        renewals=model.renewals,
        churned=model.churned,
        loaded=model.loaded,
        auc=None if test is None else round(test.model.auc, 3),
        baseline_auc=None if test is None else round(test.baseline.auc, 3),
        reason=model.withheld,  # None when its scores are written
    )
    return model


def _scorer(
    inputs: RunInputs, config: Config, settings: Settings
) -> Callable[[pl.DataFrame], pl.DataFrame] | None:
    """How the engine scores the table's churn risk, None without a model to publish."""
    model = inputs.risk
    if not isinstance(model, Trained) or model.withheld:
        return None
    labels = measure_labels(config.health)
    return lambda table: score(model, table, inputs.as_of, settings.team_language, labels)


def missing_columns(inputs: RunInputs, config: Config) -> list[str]:
    """Fields `config` maps or writes that the inputs were read without (a configuration
    that maps more than the one they were read for): `object.column`, empty if none."""
    records, mapping = inputs.extracted.records, config.mapping
    written = [*mapping.results.values(), *config.fields_set_by_rules().values()]
    objects = [
        (
            "accounts",
            records.accounts,
            [*mapping.account.fields, *(CURRENT_PREFIX + f for f in written)],
        ),
        ("opportunities", records.opportunities, list(mapping.opportunity.fields)),
        ("contacts", records.contacts, list(mapping.contact.fields) if mapping.contact else []),
        ("meetings", records.meetings, list(mapping.meeting.fields) if mapping.meeting else []),
        ("usage", records.usage, list(mapping.usage.metrics)),
    ]
    return [
        f"{name}.{column}"
        for name, frame, columns in objects
        for column in columns
        if frame is None or column not in frame.columns
    ]


@dataclass
class RecordingLedger:
    """The store's message ledger, remembering what it answered (for a snapshot)."""

    store: MessageLedger
    answers: dict[str, str] = field(default_factory=dict)

    def message_statuses(self, keys: Iterable[str]) -> dict[str, str]:
        found = self.store.message_statuses(keys)
        self.answers.update(found)
        return found


@dataclass(frozen=True)
class SavedLedger:
    """A snapshot's ledger answers: a key it does not hold was never sent."""

    answers: dict[str, str]

    def message_statuses(self, keys: Iterable[str]) -> dict[str, str]:
        return {key: self.answers[key] for key in keys if key in self.answers}
