"""Each object's description (Salesforce's describe, HubSpot's properties) asked once a
session, and several at once: the reads run side by side, and at a real CRM's 100 ms a call,
describing the mapped objects one after another was most of a run's start."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextvars import copy_context
from typing import Generic, TypeVar

from connector.errors import CrmError

T = TypeVar("T")


class Descriptions(Generic[T]):
    """`ask(name)` once per name, each name under its own lock so different ones go at once;
    an error `absent` accepts (the CRM has no such object) is remembered and raised again,
    so reporting it costs no second call."""

    def __init__(
        self, ask: Callable[[str], T], concurrency: int, absent: Callable[[CrmError], bool]
    ) -> None:
        self._ask = ask
        self._concurrency = concurrency
        self._absent = absent
        self._found: dict[str, T | CrmError] = {}
        self._asking: dict[str, threading.Lock] = {}
        self._locks = threading.Lock()

    def get(self, name: str) -> T:
        with self._locks:
            lock = self._asking.setdefault(name, threading.Lock())
        with lock:
            if name not in self._found:
                try:
                    self._found[name] = self._ask(name)
                except CrmError as exc:
                    if self._absent(exc):
                        self._found[name] = exc
                    raise
            found = self._found[name]
        if isinstance(found, CrmError):
            raise found
        return found

    def ask_all(self, names: Iterable[str]) -> None:
        """Those of `names` not yet asked, `concurrency` at once. A failure is left for
        `get` to raise where its caller reports it or stops."""
        wanted = [name for name in dict.fromkeys(names) if name not in self._found]
        if len(wanted) < 2:
            return
        with ThreadPoolExecutor(min(self._concurrency, len(wanted))) as pool:
            asked = [pool.submit(copy_context().run, self._quietly, name) for name in wanted]
            for done in asked:
                done.result()

    def forget(self, name: str) -> None:
        """After the object changed (a field created): the next `get` asks again."""
        with self._locks:
            self._found.pop(name, None)

    def _quietly(self, name: str) -> None:
        with contextlib.suppress(CrmError):
            self.get(name)
