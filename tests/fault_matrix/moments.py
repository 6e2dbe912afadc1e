"""Exact points in a run. Every request the sandbox CRM and Slack have handled (their writes
done, the answer not yet sent) and every email the SMTP sink has accepted (before its 250)
is a moment, counted in order; a trigger acts at the moments it names: kill the worker,
lose or stall the answer, expire the sessions."""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from email.message import EmailMessage

SERVICES = ("crm", "slack", "smtp")  # the usage API only reads: a kill there is a kill before


@dataclass(frozen=True)
class Moment:
    service: str  # "crm", "slack" or "smtp"
    method: str  # the HTTP method, or "DATA"
    path: str


Act = Callable[[Moment], None]


@dataclass
class Trigger:
    """Acts at the `at`-th (1-based) moments that `matches`."""

    matches: Callable[[Moment], bool]
    at: Collection[int]
    act: Act
    seen: int = field(default=0, init=False)


class Moments:
    """The sandbox's `on_request` hook and the SMTP sink's `on_message`, in one count."""

    def __init__(self) -> None:
        self.count = 0
        self._triggers: list[Trigger] = []
        self._lock = threading.Lock()

    def arm(self, trigger: Trigger) -> None:
        with self._lock:
            self._triggers.append(trigger)

    def disarm(self) -> None:
        with self._lock:
            self._triggers.clear()

    def __call__(self, service: str, method: str, path: str) -> None:
        if service in SERVICES:
            self._reached(Moment(service, method, path))

    def on_email(self, message: EmailMessage) -> None:
        self._reached(Moment("smtp", "DATA", str(message["X-CS-Connector-Key"])))

    def _reached(self, moment: Moment) -> None:
        due: list[Act] = []
        with self._lock:
            self.count += 1
            for trigger in self._triggers:
                if trigger.matches(moment):
                    trigger.seen += 1
                    if trigger.seen in trigger.at:
                        due.append(trigger.act)
        for act in due:  # outside the lock: an act may sleep, or raise to drop the answer
            act(moment)


def any_moment(moment: Moment) -> bool:
    return True
