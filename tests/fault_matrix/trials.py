"""One trial: a fresh sandbox seeded with the demo company, a faulted or killed run, reruns
until one finishes, and the tally of what the sandboxes then hold against a clean run.

A killed run is the worker's own process, killed by the sandbox at the chosen moment (after
the request committed, before the answer — the worst moment). Then the store is kept (the
next run uses the same STATE_DATABASE_URL) or lost (a fresh empty store, as a CronJob
without a volume). A fault-class trial lifts the fault after its run and reruns on the same
store.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from tempfile import TemporaryDirectory

from pydantic import SecretStr

from connector.sandbox.demo import RunningSandbox, running_sandbox
from connector.sandbox.server import DropConnection
from connector.settings import CrmName
from tests.fault_matrix.faults import VENDORS, FaultClass
from tests.fault_matrix.moments import Moment, Moments, Trigger, any_moment
from tests.fault_matrix.observe import Reference, Tally, observe, tally
from tests.fault_matrix.worker import FINISHED, Worker

ROOT = Path(__file__).resolve().parents[2]  # the shipped mappings/ and playbooks/
AS_OF = date(2026, 11, 23)
MAX_RERUNS = 5
SEARCH_LAG_SECONDS = 5.0


@dataclass(frozen=True)
class KillCase:
    crm: CrmName
    store_kept: bool
    search_lag: bool = False  # HubSpot's search index this many seconds behind its writes

    @property
    def name(self) -> str:
        store = "store kept" if self.store_kept else "store lost"
        lag = f", search index {SEARCH_LAG_SECONDS:.0f} s behind" if self.search_lag else ""
        return f"{_crm_label(self.crm)}, {store}{lag}"


KILL_CASES = (
    KillCase("salesforce", store_kept=True),
    KillCase("salesforce", store_kept=False),
    KillCase("hubspot", store_kept=True),
    KillCase("hubspot", store_kept=False),
    KillCase("hubspot", store_kept=False, search_lag=True),
)


@dataclass(frozen=True)
class Trial:
    case: str
    tally: Tally
    codes: tuple[int, ...]  # every run's exit code, -9 for the killed one
    kills: int
    errors: tuple[str, ...]  # tracebacks of unexpected errors in a run (bugs)


@dataclass
class _Arena:
    sandbox: RunningSandbox
    moments: Moments
    worker: Worker
    lifts: list[Callable[[], None]] = field(default_factory=list)

    def on_lift(self, lift: Callable[[], None]) -> None:
        self.lifts.append(lift)

    def lift(self) -> None:
        """The outage is over: nothing left pending fires in the reruns."""
        self.moments.disarm()
        crm = self.sandbox.crm
        crm.clear_faults()
        self.sandbox.smtp.refusals.clear()
        for lift in self.lifts:
            lift()


@contextmanager
def _arena(workdir: Path, crm: CrmName, customers: int) -> Iterator[_Arena]:
    moments = Moments()
    with running_sandbox(
        workdir / "sandbox",
        crm=crm,
        as_of=AS_OF,
        customers=customers,
        project_dir=ROOT,
        on_request=moments,
    ) as sandbox:
        sandbox.smtp.on_message = moments.on_email
        yield _Arena(sandbox, moments, Worker(workdir))


def _store(workdir: Path, name: str) -> SecretStr:
    return SecretStr(f"sqlite:///{workdir / name}.db")


@cache
def reference(crm: CrmName, customers: int) -> Reference:
    """A clean first run of the demo company: its tasks, its emails and its moments."""
    with TemporaryDirectory() as scratch, _arena(Path(scratch), crm, customers) as arena:
        settings = arena.sandbox.settings.model_copy(
            update={"state_database_url": _store(Path(scratch), "reference")}
        )
        code = arena.worker.run_here(settings)
        if code != 0:
            raise RuntimeError(
                f"the clean reference run on {crm} exited {code}: {arena.worker.errors}"
            )
        return Reference.of(observe(arena.sandbox), arena.moments.count, settings)


def kill_points(case: KillCase, reference: Reference, kills: int, seed: int) -> list[int]:
    """A clean run's last moment — its last Slack post made, the answer not yet back, the
    one kill a post needs its store (or Slack's own history) to survive — then `kills`
    moments drawn uniformly from all of them, reproducibly per case and seed."""
    rng = random.Random(f"{seed}:{case.name}")
    return [reference.moments, *(rng.randint(1, reference.moments) for _ in range(kills))]


def kill_trial(case: KillCase, point: int, customers: int, workdir: Path) -> Trial:
    """Kill the worker at the `point`-th moment, then rerun with the store kept or lost."""
    ref = reference(case.crm, customers)
    with _arena(workdir, case.crm, customers) as arena:
        if case.search_lag:
            arena.sandbox.portal.search_lag_seconds = SEARCH_LAG_SECONDS
        worker = arena.worker

        def kill(moment: Moment) -> None:
            worker.kill()
            if moment.service != "smtp":  # the dead client gets no answer
                raise DropConnection("the worker was killed before the answer")

        arena.moments.arm(Trigger(any_moment, {point}, kill))
        settings = arena.sandbox.settings.model_copy(
            update={"state_database_url": _store(workdir, "state")}
        )
        codes = [worker.run_process(settings)]
        arena.moments.disarm()
        if not case.store_kept:
            settings = settings.model_copy(update={"state_database_url": _store(workdir, "new")})
        codes += worker.run_until_finished(settings, MAX_RERUNS)
        return _trial(case.name, arena, ref, codes)


def fault_trial(crm: CrmName, fault: FaultClass, customers: int, workdir: Path) -> Trial:
    """One run with the fault arranged, then clean reruns on the same store."""
    ref = reference(crm, customers)
    with _arena(workdir, crm, customers) as arena:
        fault.arrange(arena, VENDORS[crm])
        settings = arena.sandbox.settings.model_copy(
            update={"state_database_url": _store(workdir, "state")}
        )
        codes = [arena.worker.run_here(settings.model_copy(update=dict(fault.settings)))]
        arena.lift()
        codes += arena.worker.run_until_finished(settings, MAX_RERUNS)
        return _trial(f"{_crm_label(crm)}, {fault.name}", arena, ref, codes)


def _trial(case: str, arena: _Arena, ref: Reference, codes: list[int]) -> Trial:
    finished = codes[-1] in FINISHED
    return Trial(
        case,
        tally(observe(arena.sandbox), ref, finished=finished),
        tuple(codes),
        arena.worker.kills,
        tuple(arena.worker.errors),
    )


def _crm_label(crm: CrmName) -> str:
    return {"salesforce": "Salesforce", "hubspot": "HubSpot"}[crm]
