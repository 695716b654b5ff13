"""Measuring one case in a fresh interpreter: wall time, CPU time and peak RSS, reported as JSON.

A case module prints one JSON object on its last stdout line (`emit`); the parent (`run_case`) runs it as
`python -m benchmarks.<case> … --json` so every case starts with a clean heap and its own peak RSS.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from .serve import _env, _root


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM), in MiB."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def timed(result: dict[str, Any]) -> Iterator[None]:
    """Fill `result` with the wall and CPU seconds of the block (imports and start-up excluded)."""
    wall, cpu = time.perf_counter(), _cpu()
    yield
    result["wall_s"] = time.perf_counter() - wall
    result["cpu_s"] = _cpu() - cpu


def emit(result: dict[str, Any]) -> None:
    result.setdefault("peak_rss_mb", peak_rss_mb())
    print(json.dumps(result), flush=True)


def run_case(module: str, args: Sequence[str], timeout: float = 1800) -> dict[str, Any]:
    """Run `python -m benchmarks.<module> <args> --json` and return its JSON result."""
    argv = [sys.executable, "-m", f"benchmarks.{module}", *map(str, args), "--json"]
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=_root(), env=_env(), timeout=timeout)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{' '.join(argv[1:])} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1])


def workdir() -> str:
    """A fresh temp folder for one case's DuckDB file and dlt pipelines folder."""
    import tempfile

    return tempfile.mkdtemp(prefix="braze_cdi_bench_", dir=os.environ.get("BENCH_TMP"))
