"""Where a run's wall goes past the portal's rate-limit floor, stretch by stretch.

The floor allows the window's allowance and no more (100 requests per 10 s: 0.1 s a
request), so a stretch of the run that lasted `seconds` and sent `calls` requests is
`seconds - calls × 0.1` past its share of the floor; the stretches add up to the run's wall
less its floor. The sandbox hears each request it handled (`RequestLog`, its `on_request`
hook), and the run is cut where its work changes: start-up until the first call; list pages
of several objects side by side, then of the last one alone (an object is being read from its
first page to its last); nothing sent while the worker evaluates; the look-ups of its own
tasks; nothing sent while it plans; the batch writes; and what follows the last call.
A stretch far past its share is where the window was not kept full.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

_LIST_PAGE = re.compile(r"^/crm/v3/objects/(?P<type>[^/]+)$")
WRITE, READ = "write", "read "
EPSILON = 1e-9  # a stretch ends just after its last call, so the call counts in it


@dataclass(frozen=True)
class Request:
    at: float  # when the sandbox had handled it (time.time(), or seconds into the run)
    activity: str  # "read companies" (a list page), "write", or the other reads: "other"


def activity(method: str, path: str) -> str:
    """A list page of an object type, a batch write, or another request (describes, owners,
    searches, the look-ups of the worker's tasks)."""
    if method == "POST" and path.endswith(("/batch/update", "/batch/create")):
        return WRITE
    page = _LIST_PAGE.match(path)
    return f"{READ}{page['type']}" if page and method == "GET" else "other"


class RequestLog:
    """The sandbox's `on_request` hook: every CRM request it handled, with its time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[Request] = []

    def __call__(self, service: str, method: str, path: str) -> None:
        if service == "crm":
            request = Request(time.time(), activity(method, path))
            with self._lock:
                self._requests.append(request)

    def take(self) -> list[Request]:
        """The requests heard since the last `take`."""
        with self._lock:
            taken, self._requests = self._requests, []
        return taken


@dataclass(frozen=True)
class Stretch:
    label: str
    seconds: float
    calls: int
    past_floor: float  # seconds beyond the floor's share of this stretch's calls


def stretches(
    requests: Sequence[Request], started: float, ended: float, per_second: float
) -> list[Stretch]:
    """The run from `started` to `ended`, cut where its work changes (see the module);
    `per_second`: the window's allowance a second."""
    timed = sorted((Request(r.at - started, r.activity) for r in requests), key=_time)
    cuts = _cuts(timed, ended - started)
    found = []
    for (start, label), (end, _) in pairwise(cuts):
        calls = sum(start <= r.at < end for r in timed)
        if end > start or calls:
            found.append(Stretch(label, end - start, calls, end - start - calls / per_second))
    return found


def _cuts(timed: Sequence[Request], end: float) -> list[tuple[float, str]]:
    """Where each stretch starts and what it is, ending with the run's end."""
    if not timed:
        return [(0.0, "nothing sent"), (end, "")]
    readers = _spans(timed)
    writes = [r.at for r in timed if r.activity == WRITE]
    read_end = max((high for _, high in readers.values()), default=timed[0].at)
    looked_up = [r.at for r in timed if r.activity == "other" and read_end < r.at]
    looked_up = [at for at in looked_up if not writes or at < writes[0]]
    cuts = [(0.0, "start-up: nothing sent"), *_read_cuts(readers, timed[0].at)]
    if looked_up:
        cuts += [(read_end, "nothing sent: evaluating"), (looked_up[0], "look-ups of its tasks")]
        cuts.append((looked_up[-1] + EPSILON, "nothing sent: planning"))
    elif writes:
        cuts.append((read_end, "nothing sent: evaluating and planning"))
    if writes:
        cuts.append((writes[0], "batch writes"))
    last = timed[-1].at + EPSILON
    return [*cuts, (max(last, cuts[-1][0]), "after the last call"), (end, "")]


def _spans(timed: Sequence[Request]) -> dict[str, tuple[float, float]]:
    """Each object's list reads, from its first page to its last."""
    spans: dict[str, tuple[float, float]] = {}
    for request in timed:
        if request.activity.startswith(READ):
            name = request.activity.removeprefix(READ)
            low, _ = spans.get(name, (request.at, request.at))
            spans[name] = (low, request.at + EPSILON)
    return spans


def _read_cuts(readers: dict[str, tuple[float, float]], first: float) -> list[tuple[float, str]]:
    """The read phase: the describes before the first list page, then the list pages, cut
    wherever an object's last page was read (the objects start together, side by side)."""
    start = min((low for low, _ in readers.values()), default=first)
    cuts = [(first, "describes and owners")] if first < start else []
    for high in sorted({start, *(high for _, high in readers.values())})[:-1]:
        reading = sorted(name for name, (_, end) in readers.items() if end > high)
        label = (
            f"list pages of {reading[0]} alone"
            if len(reading) == 1
            else f"list pages of {len(reading)} objects side by side"
        )
        cuts.append((high, label))
    return cuts


def print_stretches(run: str, found: Sequence[Stretch]) -> None:
    """One table row a stretch, in the order they came."""
    for stretch in found:
        print(
            f"| {run} | {stretch.label} | {stretch.seconds:.1f} | {stretch.calls:,} | "
            f"{_rate(stretch)} | "
            f"{stretch.past_floor:.1f} |",
            flush=True,
        )


def _rate(stretch: Stretch) -> str:
    """Calls a second, for a stretch long enough to say: a few calls within a millisecond
    are not thousands a second."""
    if stretch.seconds < 0.05:
        return "—"
    return f"{stretch.calls / stretch.seconds:.1f}"


def _time(request: Request) -> float:
    return request.at
