"""Retry policy for Braze requests, built from tenacity and dlt's retry predicates.

dlt's `Client` retries 429, 5xx and dropped connections with plain exponential backoff: no jitter, and a
default budget (about 15 s) shorter than Braze's one-minute rate window. Here the budget is explicit,
waits are jittered so parallel threads do not retry in lockstep, a 200 whose body is not JSON (truncated,
an HTML error page) is retried like a 5xx, and a 429 waits no extra: the shared throttle already holds
every thread until Braze's reset.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from dlt.sources.helpers.requests.retry import (
    DEFAULT_RETRY_EXCEPTIONS,
    DEFAULT_RETRY_STATUS,
    retry_if_predicate,
    retry_if_status,
)
from requests import Response
from tenacity import RetryCallState, Retrying, retry_any, retry_if_exception_type, stop_after_attempt


@dataclass(frozen=True)
class RetryBudget:
    """How hard to try before giving up on one request: attempts and the exponential backoff's shape."""

    max_attempts: int = 8
    backoff_factor: float = 1.0
    max_delay: float = 60.0
    timeout: float = 30.0

    @property
    def worst_case_wait(self) -> float:
        """Seconds of backoff if every attempt fails (jitter aside): 1 + 2 + 4 + … capped at max_delay."""
        return sum(min(self.max_delay, self.backoff_factor * 2**n) for n in range(self.max_attempts - 1))


def body_is_not_json(response: Response | None, exception: BaseException | None) -> bool:
    """A successful status with a body that does not parse: truncated or an HTML page from a proxy."""
    if response is None or not response.ok:
        return False
    try:
        response.json()
    except ValueError:
        return True
    return False


class _JitteredBackoff:
    """Exponential backoff with full jitter in its upper half; no wait after a 429 (the throttle waits)."""

    def __init__(self, budget: RetryBudget) -> None:
        self.budget = budget

    def __call__(self, state: RetryCallState) -> float:
        outcome = state.outcome
        if outcome is not None and not outcome.failed:
            result: Any = outcome.result()
            if isinstance(result, Response) and result.status_code == 429:
                return 0.0
        ceiling = min(self.budget.max_delay, self.budget.backoff_factor * 2 ** (state.attempt_number - 1))
        return random.uniform(ceiling / 2, ceiling)


def make_retrying(budget: RetryBudget) -> Retrying:
    """A tenacity policy that returns the last response (or raises the last error) once spent."""
    return Retrying(
        retry=retry_any(
            retry_if_status(DEFAULT_RETRY_STATUS),
            retry_if_exception_type(DEFAULT_RETRY_EXCEPTIONS),
            retry_if_predicate(body_is_not_json),
        ),
        wait=_JitteredBackoff(budget),
        stop=stop_after_attempt(budget.max_attempts),
        reraise=True,
        retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
    )
