"""The throttle on a fake clock: how long it makes a request wait, for every thing Braze's headers can say.

A wait is what the throttle asks its `sleep` for; the fake clock moves forward by exactly that much, so
these tests take milliseconds and would hang (then time out) if the throttle spun without sleeping.
"""

from __future__ import annotations

import pytest
from requests import Response
from requests.structures import CaseInsensitiveDict

from braze_cdi_source.http.throttle import Throttle

T0 = 1_800_000_000.0  # epoch seconds, like Braze's X-RateLimit-Reset
LIST, JOBS = "list", "job_sync_status"


class FakeClock:
    """Epoch seconds that move only when the throttle sleeps (or a test says so)."""

    def __init__(self) -> None:
        self.now = T0
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0, "the throttle asked to sleep for nothing (it would spin)"
        self.sleeps.append(seconds)
        self.now += seconds


def answer(status: int = 200, *, remaining: int | None = None, reset: float | None = None, limit: int = 10,
           retry_after: float | None = None) -> Response:
    response = Response()
    response.status_code = status
    headers = {}
    if remaining is not None:
        headers = {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(remaining)}
    if reset is not None:
        headers["X-RateLimit-Reset"] = str(int(reset))
    if retry_after is not None:
        headers["Retry-After"] = str(int(retry_after))
    response.headers = CaseInsensitiveDict(headers)
    return response


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def throttle(clock: FakeClock, list_limit: int = 3, jobs_limit: int = 5) -> Throttle:
    return Throttle({LIST: list_limit, JOBS: jobs_limit}, clock=clock.time, sleep=clock.sleep)


def waited(clock: FakeClock, action) -> float:
    before = clock.now
    action()
    return clock.now - before


def test_without_headers_it_paces_by_the_documented_limit_over_a_sliding_window(clock):
    limiter = throttle(clock, list_limit=3)
    for _ in range(3):
        assert waited(clock, lambda: limiter.acquire(LIST)) == 0
        clock.now += 10  # requests 10 s apart: sent at T0, T0+10, T0+20
    # the 4th fits once the first leaves the 60 s window
    assert waited(clock, lambda: limiter.acquire(LIST)) == pytest.approx(30)
    assert clock.now == pytest.approx(T0 + 60)


def test_a_spent_window_waits_for_braze_s_reset_then_starts_with_the_full_limit(clock):
    limiter = throttle(clock)
    limiter.acquire(JOBS)
    limiter.observe(JOBS, answer(remaining=1, reset=T0 + 12, limit=10))
    assert waited(clock, lambda: limiter.acquire(JOBS)) == 0  # the one that was left
    assert waited(clock, lambda: limiter.acquire(JOBS)) == pytest.approx(12)
    # the reset passed: a fresh window of Braze's limit (10), not the documented 5, and no header needed
    for _ in range(9):
        assert waited(clock, lambda: limiter.acquire(JOBS)) == 0


def test_out_of_order_answers_in_one_window_never_count_back_up(clock):
    limiter = throttle(clock)
    for _ in range(3):
        limiter.acquire(JOBS)
    # the third answer arrives first, then the first one, which still saw 9 left
    limiter.observe(JOBS, answer(remaining=2, reset=T0 + 30, limit=5))
    limiter.observe(JOBS, answer(remaining=4, reset=T0 + 30, limit=5))
    limiter.acquire(JOBS)
    limiter.acquire(JOBS)
    assert waited(clock, lambda: limiter.acquire(JOBS)) == pytest.approx(30), "it believed the older answer"


def test_a_late_answer_from_a_window_that_is_over_tells_nothing(clock):
    limiter = throttle(clock)
    limiter.acquire(JOBS)
    limiter.observe(JOBS, answer(remaining=1, reset=T0 + 60, limit=5))  # the current window
    limiter.observe(JOBS, answer(remaining=0, reset=T0 - 5, limit=5))  # a straggler from the previous one
    assert waited(clock, lambda: limiter.acquire(JOBS)) == 0
    assert waited(clock, lambda: limiter.acquire(JOBS)) == pytest.approx(60)


class Stop(Exception):
    """Raised instead of a sleep: the throttle wanted to wait."""


def test_a_late_answer_after_the_next_window_began_does_not_refill_it(clock):
    """At the reset the throttle starts the next window itself; an answer to a request sent before the reset
    that arrives after it must not make it believe the new window is fresh again (measured: 429s at Braze's
    60 s windows with five parallel threads)."""
    limiter = throttle(clock)
    limiter.acquire(JOBS)
    limiter.observe(JOBS, answer(remaining=0, reset=T0 + 12, limit=5))
    assert waited(clock, lambda: limiter.acquire(JOBS)) == pytest.approx(12)  # the next window: 1 of 5 sent
    for _ in range(3):
        assert waited(clock, lambda: limiter.acquire(JOBS)) == 0  # 4 of 5
    limiter.observe(JOBS, answer(remaining=0, reset=T0 + 12, limit=5))  # late, from the window before
    assert waited(clock, lambda: limiter.acquire(JOBS)) == 0  # 5 of 5

    def refuse(seconds: float) -> None:
        raise Stop

    limiter._sleep = refuse  # type: ignore[method-assign]
    with pytest.raises(Stop):
        limiter.acquire(JOBS)  # a 6th would be a 429


def test_the_first_answer_of_a_window_counts_the_requests_still_in_flight(clock):
    """Five threads send at once into a window the throttle knows nothing of; the first answer says 9 of 10
    left, but four more requests are on their way: 5 left, not 9."""
    limiter = throttle(clock)
    for _ in range(5):
        limiter.acquire(JOBS)
    limiter.observe(JOBS, answer(remaining=9, reset=T0 + 60, limit=10))
    for _ in range(5):
        assert waited(clock, lambda: limiter.acquire(JOBS)) == 0
    assert waited(clock, lambda: limiter.acquire(JOBS)) == pytest.approx(60)


def test_the_first_answer_after_the_throttle_started_a_window_does_not_count_back_up(clock):
    limiter = throttle(clock)
    limiter.acquire(JOBS)
    limiter.observe(JOBS, answer(remaining=0, reset=T0 + 12, limit=5))
    assert waited(clock, lambda: limiter.acquire(JOBS)) == pytest.approx(12)  # 1 of 5 in the next window
    for _ in range(3):
        limiter.acquire(JOBS)  # 4 of 5
    limiter.observe(JOBS, answer(remaining=4, reset=T0 + 72, limit=5))  # the answer to the first: 4 left then
    assert waited(clock, lambda: limiter.acquire(JOBS)) == 0  # 5 of 5
    limiter.observe(JOBS, answer(remaining=3, reset=T0 + 72, limit=5))
    assert waited(clock, lambda: limiter.acquire(JOBS)) == pytest.approx(60)


def test_a_429_holds_every_request_of_that_endpoint_until_the_reset_and_no_other(clock):
    limiter = throttle(clock)
    limiter.acquire(JOBS)
    limiter.observe(JOBS, answer(429, remaining=0, reset=T0 + 7, limit=5))
    assert waited(clock, lambda: limiter.acquire(LIST)) == 0  # the list has its own window
    assert waited(clock, lambda: limiter.acquire(JOBS)) == pytest.approx(7)


def test_after_a_429_s_reset_the_next_window_is_believed_full(clock):
    """The first answer after a 429's reset tells the new window's `Remaining`: the requests go on at once, not
    one window later (the 429 had set what is left to nothing, and `Remaining` only lowers it)."""
    limiter = throttle(clock)
    limiter.acquire(JOBS)
    limiter.observe(JOBS, answer(429, remaining=0, reset=T0 + 7, limit=5))
    assert waited(clock, lambda: limiter.acquire(JOBS)) == pytest.approx(7)
    limiter.observe(JOBS, answer(remaining=4, reset=clock.now + 60, limit=5))
    for _ in range(4):
        assert waited(clock, lambda: limiter.acquire(JOBS)) == 0
    assert waited(clock, lambda: limiter.acquire(JOBS)) == pytest.approx(60)


def test_a_429_waits_for_retry_after_when_it_is_later_than_the_reset(clock):
    limiter = throttle(clock)
    limiter.acquire(JOBS)
    limiter.observe(JOBS, answer(429, remaining=0, reset=T0 + 3, limit=5, retry_after=20))
    assert waited(clock, lambda: limiter.acquire(JOBS)) == pytest.approx(20)


def test_the_windows_limit_follows_braze_s_header_not_the_documented_one(clock):
    limiter = throttle(clock, jobs_limit=100)
    limiter.acquire(JOBS)
    limiter.observe(JOBS, answer(remaining=2, reset=T0 + 40, limit=3))  # a workspace with a lower limit
    limiter.acquire(JOBS)
    limiter.acquire(JOBS)
    assert waited(clock, lambda: limiter.acquire(JOBS)) == pytest.approx(40)
    for _ in range(2):  # after the reset: 3 a window, as Braze said
        assert waited(clock, lambda: limiter.acquire(JOBS)) == 0


def test_no_header_makes_anyone_wait_longer_than_braze_s_window(clock):
    """Issue 21 'slow': a 429 (or a 2xx) whose reset is 170 s ahead waits one 60 s window, not 170 s."""
    limiter = Throttle({LIST: 3, JOBS: 5}, clock=clock.time, sleep=clock.sleep)  # the default max_wait
    limiter.acquire(JOBS)
    limiter.observe(JOBS, answer(429, remaining=0, reset=T0 + 170, limit=5))
    assert waited(clock, lambda: limiter.acquire(JOBS)) == pytest.approx(60)
    limiter.observe(JOBS, answer(remaining=0, reset=clock.now + 170, limit=5))
    assert waited(clock, lambda: limiter.acquire(JOBS)) == pytest.approx(60)


def test_a_429_storm_holds_the_other_threads_one_window_at_most(clock):
    """One integration's endpoint answers 429 (reset 170 s ahead) to every retry: the others are held for the
    first window only; the storm's own retries back off by themselves (the response says the throttle does
    not hold)."""
    limiter = Throttle({LIST: 3, JOBS: 100}, clock=clock.time, sleep=clock.sleep)
    held = 0.0
    for _ in range(8):  # a request that keeps getting 429s, retried about every 10 s
        storm = answer(429, remaining=0, reset=clock.now + 170, limit=100)
        limiter.observe(JOBS, storm)
        held += waited(clock, lambda: limiter.acquire(JOBS))  # another integration's next page
        clock.now += 10
    assert held == pytest.approx(60)


def test_a_client_clock_minutes_behind_waits_a_window_not_a_failure(clock):
    """Braze's 60 s reset read on a clock 4 minutes behind is 300 s ahead: a 60 s wait, and the 429 is retried
    (no `ASKED_WAIT`); a reset a year ahead is absurd and fails at once."""
    from braze_cdi_source.http.throttle import ASKED_WAIT

    limiter = Throttle(clock=clock.time, sleep=clock.sleep)
    skewed = answer(429, remaining=0, reset=T0 + 300, limit=100)
    limiter.observe(JOBS, skewed)
    assert getattr(skewed, ASKED_WAIT, None) is None
    assert waited(clock, lambda: limiter.acquire(JOBS)) == pytest.approx(60)
    absurd = answer(429, remaining=0, reset=clock.now + 365 * 86400, limit=100)
    limiter.observe(JOBS, absurd)
    assert getattr(absurd, ASKED_WAIT)[0] == "X-RateLimit-Reset"


@pytest.mark.parametrize("limits", [{JOBS: 0}, {LIST: -1}, {JOBS: 2.5}])
def test_a_limit_below_one_request_a_minute_is_refused_with_a_clear_message(limits):
    from braze_cdi_source.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="requests_per_minute"):
        Throttle(limits)
