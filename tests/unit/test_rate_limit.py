"""The HubSpot rate limiter paces requests to the window the server announces."""

from __future__ import annotations

import threading

from connector.crm.hubspot.rate_limit import UNANSWERED_AFTER, RateLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 3))
        self.now += seconds


def _limiter(clock: FakeClock, max_requests: int = 3, interval: float = 10.0) -> RateLimiter:
    return RateLimiter(max_requests, interval, clock=clock, sleep=clock.sleep)


def test_requests_within_the_window_do_not_wait() -> None:
    clock = FakeClock()
    limiter = _limiter(clock)
    for _ in range(3):
        limiter.acquire()
    assert clock.slept == []


def test_the_request_over_the_window_waits_for_the_oldest_to_leave_it() -> None:
    clock = FakeClock()
    limiter = _limiter(clock)
    for at in (0.0, 2.0, 4.0):
        clock.now = at
        limiter.acquire()
        limiter.observe({})  # answered at once
    limiter.acquire()
    assert clock.slept == [6.0]  # the request at 0 s leaves the 10 s window at 10 s


def test_the_server_window_replaces_the_configured_one() -> None:
    clock = FakeClock()
    limiter = _limiter(clock, max_requests=100)
    limiter.observe(
        {
            "X-HubSpot-RateLimit-Max": "2",
            "X-HubSpot-RateLimit-Interval-Milliseconds": "1000",
            "X-HubSpot-RateLimit-Remaining": "1",
        }
    )
    for _ in range(3):
        limiter.acquire()
        limiter.observe({})  # answered at once
    assert clock.slept == [1.0]


def test_no_remaining_requests_pauses_for_an_interval() -> None:
    clock = FakeClock()
    limiter = _limiter(clock, max_requests=100, interval=10.0)
    limiter.observe({"x-hubspot-ratelimit-remaining": "0"})
    limiter.acquire()
    assert clock.slept == [10.0]


def test_a_429_waits_for_retry_after_when_given() -> None:
    clock = FakeClock()
    limiter = _limiter(clock)
    limiter.pause(2.0)
    limiter.acquire()
    assert clock.slept == [2.0]


def test_a_full_window_frees_up_when_its_oldest_request_leaves() -> None:
    clock = FakeClock()
    limiter = _limiter(clock, max_requests=100, interval=10.0)
    for at in (0.0, 2.0, 4.0):
        clock.now = at
        limiter.acquire()
        limiter.observe({})
    limiter.observe({"X-HubSpot-RateLimit-Remaining": "0"})  # others share the quota
    limiter.acquire()
    assert clock.slept == [6.0]


def test_requests_others_sent_count_in_the_window() -> None:
    """A script on the same portal used part of the window: the server's Remaining says so,
    and the limiter waits for those requests to leave rather than for a 429."""
    clock = FakeClock()
    limiter = _limiter(clock, max_requests=3, interval=10.0)
    limiter.acquire()
    clock.now = 1.0
    limiter.observe({"X-HubSpot-RateLimit-Remaining": "1"})  # ours and another's: 2 of 3
    limiter.acquire()  # the last place
    limiter.observe({})
    limiter.acquire()
    assert clock.slept == [10.0]


def test_a_request_counts_from_its_answer_as_hubspot_may_have_counted_it_late() -> None:
    clock = FakeClock()
    limiter = _limiter(clock, max_requests=1, interval=10.0)
    limiter.acquire()  # sent at 0 s
    clock.now = 1.5
    limiter.observe({})  # answered at 1.5 s
    limiter.acquire()
    assert clock.slept == [10.0]  # until 11.5 s, not 10 s


def test_an_answer_restamps_the_request_of_its_own_thread() -> None:
    """Reads run side by side: the answer at 0.9 s is to the request sent at 0 s on this
    thread, not to another thread's request sent at 0.5 s, which is answered at 0.6 s."""
    clock = FakeClock()
    limiter = _limiter(clock, max_requests=2, interval=1.0)
    limiter.acquire()  # sent at 0 s, on this thread
    clock.now = 0.5
    other = threading.Thread(target=_answered, args=(limiter, clock, 0.6))  # sent at 0.5 s
    other.start()
    other.join()
    clock.now = 0.9
    limiter.observe({})  # this thread's answer

    clock.now = 1.2
    limiter.acquire()

    assert clock.slept == [0.4]  # until the other request leaves the window at 1.6 s


def test_a_request_still_out_keeps_its_place_past_the_window() -> None:
    """HubSpot counts a request when it gets it: one not answered a window after it was
    sent may be counted only now, so the next request over the limit waits for its answer
    and then a window from it — a search answered after more than its one-second window
    otherwise let the next search through early, to a 429."""
    sent, answer = threading.Event(), threading.Event()
    clock = FakeClock()
    limiter = _limiter(clock, max_requests=1, interval=1.0)

    def sent_at_0_answered_when_told() -> None:
        limiter.acquire()
        sent.set()
        answer.wait()
        limiter.observe({})

    out = threading.Thread(target=sent_at_0_answered_when_told)
    out.start()
    sent.wait()
    clock.now = 1.2  # the request at 0 s is still out

    def answered_at_1_4(seconds: float) -> None:
        clock.slept.append(round(seconds, 3))
        clock.now = 1.4
        answer.set()
        out.join()
        limiter.sleep = clock.sleep

    limiter.sleep = answered_at_1_4
    limiter.acquire()

    assert clock.now == 2.4  # a window after the answer, not at once at 1.2 s


def test_a_request_never_answered_leaves_the_window_after_any_timeout() -> None:
    clock = FakeClock()
    limiter = _limiter(clock, max_requests=1, interval=1.0)
    limiter.acquire()  # lost: no answer ever comes
    limiter.acquire()
    assert sum(clock.slept) >= UNANSWERED_AFTER
    assert sum(clock.slept) < UNANSWERED_AFTER + 1.0


def _answered(limiter: RateLimiter, clock: FakeClock, at: float) -> None:
    limiter.acquire()
    clock.now = at
    limiter.observe({})
