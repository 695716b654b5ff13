"""One open DuckDB database per load instead of one per connection dlt makes.

dlt opens the DuckDB file for each client it makes: about seven times a load (schema, jobs, state, the
`_dlt_loads` row), and DuckDB reads the file's catalog on each open and checkpoints its log on each last
close: 15 opens in an incremental run with its run log, about a fifth of its CPU on a small file
(`python -m benchmarks.duckdb_hold`), more on a large one. DuckDB keeps one database per file and process
while any connection to it is open, so holding one connection makes dlt's opens share it, with one checkpoint
at the end.

It is held only while dlt loads (its `load` step) and while the job creates the views and writes the run log,
never while the run pages through Braze: the file stays free for `braze-cdi health` or an analyst between
loads, as before (DuckDB lets one process at a time open a file for writing).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import dlt
from dlt.common.runtime.collector import Collector

logger = logging.getLogger("braze_cdi")


@contextmanager
def duckdb_kept_open(pipeline: dlt.Pipeline) -> Iterator[None]:
    """Hold one connection to the pipeline's DuckDB file for the block; anything else: do nothing.

    The connection comes from dlt's own connection pool for the destination's resolved credentials, so it is
    opened with exactly the settings dlt's later connections ask for (DuckDB refuses a second connection to
    an open file with other settings). Failing to open it costs only the speed-up: dlt then opens as usual
    and reports its own error.
    """
    pool = _pool(pipeline)
    if pool is None:
        yield
        return
    try:
        connection = pool.borrow_conn()
    except Exception as error:  # noqa: BLE001 - an optimisation; dlt's own open reports the real problem
        logger.debug("could not keep the DuckDB file open: %s", type(error).__name__)
        yield
        return
    try:
        yield
    finally:
        pool.return_conn(connection)


def _pool(pipeline: dlt.Pipeline) -> Any:
    """dlt's connection pool for the pipeline's local DuckDB file, or None for any other destination."""
    destination = pipeline.destination
    if destination is None or destination.destination_type != "dlt.destinations.duckdb":
        return None
    try:
        credentials = pipeline.destination_client().config.credentials
    except Exception:  # noqa: BLE001 - not configured yet: dlt raises its own clear error later
        return None
    database = getattr(credentials, "database", None)
    if not isinstance(database, str) or database == ":memory:" or getattr(credentials, "read_only", False):
        return None
    return getattr(credentials, "conn_pool", None)


class DuckDBOpenDuringLoads(Collector):
    """The run's dlt collector (progress), unchanged, plus `duckdb_kept_open` around each `load` step.

    dlt tells a pipeline's collector when each step of a run starts and ends (`on_start_trace_step`,
    `on_end_trace_step`, also when the step fails); everything else goes to the wrapped collector.
    """

    def __init__(self, pipeline: dlt.Pipeline, inner: Collector) -> None:
        self._pipeline = pipeline
        self._inner = inner
        self._held: ExitStack | None = None

    def update(
        self,
        name: str,
        inc: int = 1,
        total: int | None = None,
        inc_total: int | None = None,
        message: str | None = None,
        label: str | None = None,
    ) -> None:
        self._inner.update(name, inc, total, inc_total, message, label)

    def __call__(self, step: str) -> DuckDBOpenDuringLoads:
        self.step = step
        self._inner(step)
        return self

    def __enter__(self) -> DuckDBOpenDuringLoads:
        self._inner.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._inner.__exit__(*exc)

    def _start(self, step: str) -> None:
        self._inner._start(step)

    def _stop(self) -> None:
        self._inner._stop()

    def on_start_trace(self, trace: Any, step: Any, pipeline: Any) -> None:
        self._inner.on_start_trace(trace, step, pipeline)

    def on_start_trace_step(self, trace: Any, step: Any, pipeline: Any) -> None:
        if step == "load" and self._held is None:
            held = ExitStack()
            held.enter_context(duckdb_kept_open(self._pipeline))
            self._held = held
        self._inner.on_start_trace_step(trace, step, pipeline)

    def on_end_trace_step(self, trace: Any, step: Any, pipeline: Any, step_info: Any, send_state: bool) -> None:
        try:
            self._inner.on_end_trace_step(trace, step, pipeline, step_info, send_state)
        finally:
            if getattr(step, "step", None) == "load":
                self.release()

    def on_end_trace(self, trace: Any, pipeline: Any, send_state: bool) -> None:
        self._inner.on_end_trace(trace, pipeline, send_state)

    def release(self) -> None:
        """Close the held connection, if any (the end of a load step, or of the run whatever happened)."""
        held, self._held = self._held, None
        if held is not None:
            held.close()
