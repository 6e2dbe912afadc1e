"""The fault classes, each arranged on either CRM through the sandboxes' own fault hooks.
What differs between Salesforce and HubSpot (which requests write, how a refusal is
arranged, what an expired session is) is a `Vendor`; a fault class is written once.

Refusals (429, 5xx, 401) happen before the sandbox does anything; a lost or late answer
(dropped, timed out) comes after the write committed — the case a client cannot tell from
a write that never happened.
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from connector.sandbox.demo import RunningSandbox
from connector.sandbox.server import DropConnection
from tests.fault_matrix.moments import Moment, Moments, Trigger

RETRY_AFTER = {"Retry-After": "1"}
TIMEOUT_SECONDS = 1.0  # the worker's HTTP_TIMEOUT_SECONDS in the timeout class
STALL_SECONDS = 1.3  # how late a stalled answer comes: past that timeout
PARTIAL_MESSAGE = "Refused by a validation rule (fault matrix): a partial batch."


class Arena(Protocol):
    """Where a fault is arranged: the trial's sandbox, its moments, and what ends it."""

    @property
    def sandbox(self) -> RunningSandbox: ...
    @property
    def moments(self) -> Moments: ...
    def on_lift(self, lift: Callable[[], None]) -> None: ...


@dataclass(frozen=True)
class Vendor:
    """One CRM's requests and fault hooks, as the fault classes need them."""

    is_write: Callable[[Moment], bool]
    refuse_writes: Callable[[RunningSandbox, int, int, Mapping[str, str]], None]
    refuse_a_read: Callable[[RunningSandbox, int, Mapping[str, str]], None]
    expire_session: Callable[[Arena], None]
    refuse_records: Callable[[RunningSandbox, Callable[[str | None], bool]], None]


def _salesforce_write(moment: Moment) -> bool:
    return (
        moment.service == "crm"
        and moment.method in ("PATCH", "POST")
        and "/composite/sobjects" in moment.path
    )


def _salesforce_expiry(arena: Arena) -> None:
    """Every session ends after the third CRM request and again after the first write."""
    org = arena.sandbox.org
    arena.moments.arm(Trigger(lambda m: m.service == "crm", {3}, lambda _: org.expire_sessions()))
    arena.moments.arm(Trigger(_salesforce_write, {1}, lambda _: org.expire_sessions()))


SALESFORCE = Vendor(
    is_write=_salesforce_write,
    refuse_writes=lambda sandbox, status, times, headers: sandbox.org.inject_fault(
        "PATCH", r"/composite/sobjects", status=status, times=times, headers=headers
    ),
    refuse_a_read=lambda sandbox, status, headers: sandbox.org.inject_fault(
        "GET", r"/query$", status=status, headers=headers
    ),
    expire_session=_salesforce_expiry,
    refuse_records=lambda sandbox, refused: sandbox.org.add_validation_rule(
        "Task", "Fault_Matrix", lambda task: refused(task.get("CS_Action_Key__c")), PARTIAL_MESSAGE
    ),
)


def _hubspot_write(moment: Moment) -> bool:
    return (
        moment.service == "crm"
        and moment.method == "POST"
        and moment.path.endswith(("/batch/create", "/batch/update"))
    )


HUBSPOT = Vendor(
    is_write=_hubspot_write,
    refuse_writes=lambda sandbox, status, times, headers: sandbox.portal.fail_next(
        "POST", r"/batch/(create|update)$", status, times=times, headers=headers
    ),
    refuse_a_read=lambda sandbox, status, headers: sandbox.portal.fail_next(
        "GET", r"/crm/v3/objects/companies$", status, headers=headers
    ),
    # a private app's token refused: HubSpot's 401 on the first task create
    expire_session=lambda arena: arena.sandbox.portal.fail_next(
        "POST", r"/tasks/batch/create$", 401
    ),
    refuse_records=lambda sandbox, refused: sandbox.portal.add_validation_rule(
        "tasks", lambda values: refused(values.get("cs_action_key")), PARTIAL_MESSAGE
    ),
)

VENDORS = {"salesforce": SALESFORCE, "hubspot": HUBSPOT}


@dataclass(frozen=True)
class FaultClass:
    name: str
    arrange: Callable[[Arena, Vendor], None]
    settings: Mapping[str, object] = field(default_factory=dict)  # for the faulted run


def _rate_limited(arena: Arena, vendor: Vendor) -> None:
    vendor.refuse_writes(arena.sandbox, 429, 2, RETRY_AFTER)
    vendor.refuse_a_read(arena.sandbox, 429, RETRY_AFTER)


def _server_errors(arena: Arena, vendor: Vendor) -> None:
    """Enough 503s in a row to use up the retries of the first write."""
    vendor.refuse_writes(arena.sandbox, 503, 4, {})
    vendor.refuse_a_read(arena.sandbox, 500, {})


def _lose_answer(moment: Moment) -> None:
    raise DropConnection(f"fault matrix: {moment.method} {moment.path} loses its answer")


def _answer_late(moment: Moment) -> None:
    time.sleep(STALL_SECONDS)
    _lose_answer(moment)


def _timeouts(arena: Arena, vendor: Vendor) -> None:
    arena.moments.arm(Trigger(vendor.is_write, {1, 3}, _answer_late))


def _answers_dropped(arena: Arena, vendor: Vendor) -> None:
    """Every other write's answer lost (the 1st, 3rd, 5th…), whatever the run's size."""
    arena.moments.arm(Trigger(vendor.is_write, range(1, 10_000, 2), _lose_answer))


def _expired_session(arena: Arena, vendor: Vendor) -> None:
    vendor.expire_session(arena)


def _partial_batches(arena: Arena, vendor: Vendor) -> None:
    """A third of the keyed tasks (email logs included, by a hash of the key) refused."""
    on = threading.Event()
    on.set()
    arena.on_lift(on.clear)

    def refused(key: str | None) -> bool:
        return on.is_set() and key is not None and zlib.crc32(key.encode()) % 3 == 0

    vendor.refuse_records(arena.sandbox, refused)


def _smtp_refusals(arena: Arena, vendor: Vendor) -> None:
    """The relay is busy for the first three emails: 451, try again later."""
    arena.sandbox.smtp.refuse_next(times=3)


def _slack_errors(arena: Arena, vendor: Vendor) -> None:
    """Every attempt of the first post answered 500."""
    arena.sandbox.slack.fail_next(500, times=4)


FAULT_CLASSES = (
    FaultClass("429 with Retry-After", _rate_limited),
    FaultClass("5xx", _server_errors),
    FaultClass("timeout", _timeouts, {"http_timeout_seconds": TIMEOUT_SECONDS}),
    FaultClass("answer dropped after commit", _answers_dropped),
    FaultClass("expired session", _expired_session),
    FaultClass("partial batch failure", _partial_batches),
    FaultClass("SMTP refusal", _smtp_refusals),
    FaultClass("Slack 5xx", _slack_errors),
)
