"""Retry policy for Braze requests, built from tenacity and dlt's retry predicates.

dlt's `Client` retries 429, 5xx and dropped connections with plain exponential backoff: no jitter, and a
default budget (about 15 s) shorter than Braze's one-minute rate window. Here the budget is explicit,
waits are jittered so parallel threads do not retry in lockstep, a 200 whose body is not JSON (truncated,
an HTML error page) is retried like a 5xx, and a 429 waits no extra: the shared throttle already holds
every thread until Braze's reset.
"""

from __future__ import annotations

import random
from collections.abc import Callable
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

try:
    from orjson import loads as _orjson_loads

    _loads: Callable[[Any], Any] = _orjson_loads
except ImportError:  # dlt installs orjson except on PyPy
    from json import loads as _loads


@dataclass(frozen=True)
class RetryBudget:
    """How hard to try before giving up on one request: attempts and the exponential backoff's shape."""

    max_attempts: int = 8
    backoff_factor: float = 1.0
    max_delay: float = 60.0
    timeout: float = 30.0


_BODY = "_braze_cdi_json"
"""Attribute of a `Response` that keeps its parsed body (or the parse error)."""


def json_body(response: Response) -> Any:
    """The response's JSON body, parsed once and kept on the response; ValueError if it is not JSON.

    The retry predicate, the shape check and the page extraction all read the body: parsing it once
    instead of three times, and with orjson first, is a visible share of extraction CPU at 10 syncs a page.
    Bodies orjson refuses (other encodings, integers past 64 bits) get requests' own parser.
    """
    cached = response.__dict__.get(_BODY, _BODY)
    if cached is _BODY:
        try:
            cached = _loads(response.content)
        except (ValueError, TypeError):
            try:
                cached = response.json()
            except ValueError as error:
                cached = error
        setattr(response, _BODY, cached)
    if isinstance(cached, ValueError):
        raise cached
    return cached


def body_is_not_json(response: Response | None, exception: BaseException | None) -> bool:
    """A successful status with a body that does not parse: truncated or an HTML page from a proxy."""
    if response is None or not response.ok:
        return False
    try:
        json_body(response)
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
