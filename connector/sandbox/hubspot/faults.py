"""Failures a test arranges: a storm of 429s over a seeded fraction of calls, requests
refused with a chosen status before anything happens, and requests that are carried out but
lose their response. Not thread-safe on its own: `HubSpotPortal` serialises access."""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class DropFault:
    method: str
    path_pattern: re.Pattern[str]

    def matches(self, method: str, path: str) -> bool:
        return self.method == method.upper() and self.path_pattern.search(path) is not None


@dataclass(frozen=True)
class StatusFault:
    """Refuse a matching request with `status` (and `headers`) before anything happens."""

    method: str
    path_pattern: re.Pattern[str]
    status: int
    headers: Mapping[str, str] = field(default_factory=dict)

    def matches(self, method: str, path: str) -> bool:
        return self.method == method.upper() and self.path_pattern.search(path) is not None


class FaultPlan:
    def __init__(self) -> None:
        self._refuse_fraction = 0.0
        self._rng = random.Random(0)
        self._drops: list[DropFault] = []
        self._refusals: list[StatusFault] = []
        self._passes: list[int] = []  # matching requests each refusal lets through first

    def refuse(self, fraction: float, seed: int) -> None:
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"fraction must be between 0 and 1, got {fraction}")
        self._refuse_fraction = fraction
        self._rng = random.Random(seed)

    def drop_after_commit(self, method: str, path_pattern: str, times: int) -> None:
        self._drops.extend([DropFault(method.upper(), re.compile(path_pattern))] * times)

    def fail_next(self, fault: StatusFault, times: int, after: int = 0) -> None:
        self._refusals.extend([fault] * times)
        self._passes.extend([after] + [0] * (times - 1))

    def clear(self) -> None:
        self._refuse_fraction = 0.0
        self._drops.clear()
        self._refusals.clear()
        self._passes.clear()

    def take_refusal(self, method: str, path: str) -> StatusFault | None:
        """The first pending refusal for this request, which is then used up (or one of the
        requests it lets through first)."""
        for index, fault in enumerate(self._refusals):
            if fault.matches(method, path):
                if self._passes[index]:
                    self._passes[index] -= 1
                    return None
                del self._passes[index]
                return self._refusals.pop(index)
        return None

    def refused(self) -> bool:
        """Whether this call falls in the storm (one draw per call while one is on)."""
        return self._refuse_fraction > 0 and self._rng.random() < self._refuse_fraction

    def take_drop(self, method: str, path: str) -> bool:
        for index, fault in enumerate(self._drops):
            if fault.matches(method, path):
                del self._drops[index]
                return True
        return False
