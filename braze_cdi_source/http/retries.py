"""Retry policy for Braze requests, built from tenacity and dlt's retry predicates.

Unlike dlt's default: an explicit budget longer than Braze's rate window, jittered waits (parallel threads do
not retry in lockstep), a 200 whose body is not JSON retried like a 5xx, and no extra wait after a 429 the
shared throttle already holds every thread for.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
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
    """Total seconds one attempt may take (connect, headers and body)."""


_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")  # a surrogate's JSON escape: the body may hold a lone one
_BODY = "_braze_cdi_json"  # attribute of a `Response` keeping its parsed body (or the parse error)


def json_body(response: Response) -> Any:
    """The response's JSON body, parsed once, its text made valid Unicode; ValueError if it is not JSON."""
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
    """`value` with each lone surrogate (valid JSON, not valid UTF-8) as U+FFFD, in keys and strings alike."""
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
    """A 2xx with a body that does not parse: truncated, or a proxy's HTML page."""
    if response is None or not 200 <= response.status_code < 300:
        return False
    try:
        json_body(response)
    except ValueError:
        return True
    return False


def _jittered_backoff(budget: RetryBudget) -> Callable[[RetryCallState], float]:
    """Exponential backoff, jittered in its upper half; none after a 429 whose reset the throttle holds for."""

    def wait(state: RetryCallState) -> float:
        outcome = state.outcome
        if outcome is not None and not outcome.failed:
            result: Any = outcome.result()
            if isinstance(result, Response) and result.status_code == 429 and getattr(result, THROTTLE_WAITS, False):
                return 0.0
        ceiling = min(budget.max_delay, budget.backoff_factor * 2 ** (state.attempt_number - 1))
        return random.uniform(ceiling / 2, ceiling)

    return wait


def _status_worth_retrying(response: Response | None, exception: BaseException | None) -> bool:
    """429 and 5xx, except a 429 that asked for an absurd wait (retrying cannot help in time)."""
    if response is None or response.status_code not in DEFAULT_RETRY_STATUS:
        return False
    return not (response.status_code == 429 and getattr(response, ASKED_WAIT, None))


def make_retrying(budget: RetryBudget) -> Retrying:
    """A tenacity policy returning the last response (or raising the last error) once spent; a stop ends its waits."""
    return Retrying(
        retry=retry_any(
            retry_if_predicate(_status_worth_retrying),
            retry_if_exception_type(DEFAULT_RETRY_EXCEPTIONS),
            retry_if_predicate(body_is_not_json),
        ),
        wait=_jittered_backoff(budget),
        sleep=cancel.sleep,
        stop=stop_after_attempt(budget.max_attempts),
        reraise=True,
        retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
    )
