"""Retry policy for Braze requests, built from tenacity and dlt's retry predicates.

dlt's `Client` retries 429, 5xx and dropped connections with plain exponential backoff: no jitter, and a
default budget (about 15 s) shorter than Braze's one-minute rate window. Here the budget is explicit,
waits are jittered so parallel threads do not retry in lockstep, a 200 whose body is not JSON (truncated,
an HTML error page) is retried like a 5xx, and a 429 waits no extra: the shared throttle already holds
every thread until Braze's reset.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any

from dlt.sources.helpers.requests.retry import (
    DEFAULT_RETRY_EXCEPTIONS,
    DEFAULT_RETRY_STATUS,
    retry_if_predicate,
)
from requests import Response
from tenacity import RetryCallState, Retrying, retry_any, retry_if_exception_type, stop_after_attempt

from . import cancel
from .throttle import ASKED_WAIT, THROTTLE_WAITS


@dataclass(frozen=True)
class RetryBudget:
    """How hard to try before giving up on one request: attempts, the backoff's shape, each attempt's deadline."""

    max_attempts: int = 8
    backoff_factor: float = 1.0
    max_delay: float = 60.0
    timeout: float = 30.0
    """Total seconds one attempt may take (connect, headers and body), not per byte read."""


_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")
"""A surrogate's JSON escape: the body may hold a lone one."""

_BODY = "_braze_cdi_json"
"""Attribute of a `Response` that keeps its parsed body (or the parse error)."""


def json_body(response: Response) -> Any:
    """The response's JSON body, parsed once and kept on the response; ValueError if it is not JSON.

    The retry predicate, the shape check and the page extraction all read the body: it is parsed once, its
    text made valid Unicode (`_valid_text`: every string from here on encodes as UTF-8).
    """
    cached = response.__dict__.get(_BODY, _BODY)
    if cached is _BODY:
        try:
            cached = response.json()
            if _SURROGATE.search(response.content):
                cached = _valid_text(cached)
        except ValueError as error:
            cached = error
        except RecursionError:  # nested deeper than the parser's stack
            cached = ValueError("JSON nested too deeply to read")
        setattr(response, _BODY, cached)
    if isinstance(cached, ValueError):
        raise cached
    return cached


def _valid_text(value: Any) -> Any:
    """`value` with each lone surrogate (`"\\ud800"` is valid JSON, but no UTF-8 encoder writes it) as U+FFFD,
    in keys and strings alike."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        return value
    if isinstance(value, dict):
        return {_valid_text(k): _valid_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_valid_text(v) for v in value]
    return value


def body_is_not_json(response: Response | None, exception: BaseException | None) -> bool:
    """A successful status with a body that does not parse: truncated or an HTML page from a proxy."""
    if response is None or not 200 <= response.status_code < 300:  # a 3xx is "ok" to requests
        return False
    try:
        json_body(response)
    except ValueError:
        return True
    return False


class _JitteredBackoff:
    """Exponential backoff with jitter in its upper half; no extra wait after a 429 whose reset the shared
    throttle obeys (it holds every thread until then), the same backoff after a 429 without a usable one."""

    def __init__(self, budget: RetryBudget) -> None:
        self.budget = budget

    def __call__(self, state: RetryCallState) -> float:
        outcome = state.outcome
        if outcome is not None and not outcome.failed:
            result: Any = outcome.result()
            if isinstance(result, Response) and result.status_code == 429 and getattr(result, THROTTLE_WAITS, False):
                return 0.0
        ceiling = min(self.budget.max_delay, self.budget.backoff_factor * 2 ** (state.attempt_number - 1))
        return random.uniform(ceiling / 2, ceiling)


def _status_worth_retrying(response: Response | None, exception: BaseException | None) -> bool:
    """429 and 5xx, except a 429 that asked for a wait beyond the cap (retrying cannot help in time)."""
    if response is None or response.status_code not in _RETRY_STATUS:
        return False
    return not (response.status_code == 429 and getattr(response, ASKED_WAIT, None))


_RETRY_STATUS = frozenset(DEFAULT_RETRY_STATUS)


def make_retrying(budget: RetryBudget) -> Retrying:
    """A tenacity policy that returns the last response (or raises the last error) once spent.

    Its waits end at once when the run is stopped (Ctrl-C): see cancel.py.
    """
    return Retrying(
        retry=retry_any(
            retry_if_predicate(_status_worth_retrying),
            retry_if_exception_type(DEFAULT_RETRY_EXCEPTIONS),
            retry_if_predicate(body_is_not_json),
        ),
        wait=_JitteredBackoff(budget),
        sleep=cancel.sleep,
        stop=stop_after_attempt(budget.max_attempts),
        reraise=True,
        retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
    )
