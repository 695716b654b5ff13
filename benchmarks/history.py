"""Figure 12, history size: what `health`, `report` and `report --html` cost on 35 days and on a year of syncs.

    python -m benchmarks.history [--quick] [--timeout 120] [--repeats 2] [--no-postgres] --json

The DuckDB datasets start from one real `braze-cdi run` against the simulator (`integrations` + 2 crafted ones),
its folder copied for the second, so their tables, dlt schema and state are what a workspace has; then each
`job_sync_status` is replaced in bulk by
one `INSERT … SELECT` over `generate_series` (the same SQL on DuckDB and PostgreSQL): every integration syncs
every 15 minutes, back `days` days from one fixed instant, so the newest 30 days (the report's window) are
the same rows in both DuckDB datasets. The crafted integrations: one whose last success was 60 days ago and
that failed every sync since, one that stopped 40 days ago. Each command runs as a subprocess, the two
datasets alternating; wall, CPU and peak RSS are the command's own (GNU time), a command past `--timeout` is
killed and recorded as "did not finish". PostgreSQL (pgserver, as the tests use) gets `--pg-days` of history
and only `health` is timed there.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from braze_cdi_source.simulator import BrazeSimulator

from .serve import _env

CLI = str(Path(sys.executable).parent / "braze-cdi")
TIME = "/usr/bin/time"
DATASET = "braze_cdi_data"
SLOT_SECONDS = 900
UNLIMITED = {"list": (10**9, 60.0), "job_sync_status": (10**9, 60.0)}

_COLUMNS = ("integration_id, job_status, sync_start_time, sync_finish_time, last_timestamp_synced, rows_synced, "
            "rows_failed_with_errors, _dlt_load_id, _dlt_id")

FILL_SQL = """
INSERT INTO {table} ({columns})
SELECT integration_id, status, start_time,
       CASE WHEN status = 'running' THEN NULL ELSE start_time + (30 + h % 600) * INTERVAL '1 second' END,
       CASE WHEN status IN ('success', 'partial') THEN start_time - INTERVAL '10 minutes' END,
       CASE WHEN status = 'running' THEN NULL ELSE h % 5000 END,
       CASE WHEN status = 'partial' THEN h % 40 WHEN status = 'running' THEN NULL ELSE 0 END,
       '{load_id}', SUBSTR(MD5(integration_id || CAST(n AS VARCHAR)), 1, 14)
FROM (
  SELECT integration_id, n, h, start_time,
         CASE WHEN k = {regular} THEN CASE WHEN n * {slot} >= 60 * 86400 THEN 'success' ELSE 'error' END
              WHEN k = {regular} + 1 THEN 'success'
              WHEN n = 0 AND k % 4 = 0 THEN 'running'
              WHEN h % 100 < 90 THEN 'success' WHEN h % 100 < 95 THEN 'partial'
              WHEN h % 100 < 99 THEN 'error' ELSE 'config_error' END AS status
  FROM (
    SELECT i.integration_id, i.k, s.n,
           CAST('{now}' AS TIMESTAMPTZ) - (s.n * {slot} + i.k * 7) * INTERVAL '1 second' AS start_time,
           (s.n * 2654435761 + i.k * 97531) % 1000003 AS h
    FROM (SELECT integration_id, ROW_NUMBER() OVER (ORDER BY integration_id) - 1 AS k FROM {integrations}) AS i
    CROSS JOIN generate_series(0, {series_end}) AS s(n)
    WHERE (i.k < {regular} AND s.n <= {last_slot})
       OR (i.k = {regular} AND s.n <= 61 * 86400 / {slot})
       OR (i.k = {regular} + 1 AND s.n BETWEEN 40 * 86400 / {slot} AND 45 * 86400 / {slot})
  ) AS slots
) AS typed
ORDER BY start_time
"""
"""Replaces the simulator's syncs (after a DELETE): `regular` integrations every `slot` seconds back to `last_slot`,
then the failing one (k = regular: success until 60 days ago, error since) and the stopped one (k = regular + 1:
syncs from 45 to 40 days ago). `h` is an arithmetic hash of (slot, integration): the same statuses, durations
and rows on every engine and in both datasets; rows are inserted oldest first, as incremental loads append them."""


def fill_sql(now: datetime, days: int, regular: int, load_id: str, schema: str = DATASET) -> str:
    return FILL_SQL.format(
        table=f"{schema}.job_sync_status", integrations=f"{schema}.integrations", columns=_COLUMNS,
        load_id=load_id, regular=regular, slot=SLOT_SECONDS, last_slot=days * 86400 // SLOT_SECONDS,
        series_end=max(days, 61) * 86400 // SLOT_SECONDS,
        now=now.strftime("%Y-%m-%d %H:%M:%S+00"),
    )


def real_run(folder: Path, integrations: int, extra_env: dict[str, str] | None = None,
             args: Sequence[str] = ()) -> dict[str, str]:
    """`braze-cdi run` against a fresh simulator into `folder`; returns the environment the CLI ran with."""
    folder.mkdir(parents=True, exist_ok=True)
    with BrazeSimulator([2] * (integrations + 2), seed=19, rate_limits=UNLIMITED) as sim:
        env = {k: v for k, v in _env().items() if not k.startswith(("SOURCES__", "DESTINATION__"))}
        env.update(DLT_DATA_DIR=str(folder / "dlt_data"), RUNTIME__DLTHUB_TELEMETRY="false", COLUMNS="200",
                   SOURCES__BRAZE_CDI__API_KEY=sim.api_key, SOURCES__BRAZE_CDI__BASE_URL=sim.base_url,
                   **(extra_env or {}))
        done = subprocess.run([CLI, "run", *args], cwd=folder, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"braze-cdi run failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return {k: v for k, v in env.items() if not k.startswith("SOURCES__")}


def build_duckdb(folder: Path, now: datetime, days: int, regular: int,
                 env: dict[str, str] | None = None) -> tuple[dict[str, str], int]:
    """A real run (or, given its `env`, the copy of one already in `folder`), then its syncs replaced by the
    generated history; returns (env, syncs)."""
    import duckdb

    env = env or real_run(folder, regular)
    with duckdb.connect(str(folder / "braze_cdi.duckdb")) as db:
        load_id = db.execute(f"SELECT MAX(load_id) FROM {DATASET}._dlt_loads").fetchone()[0]
        db.execute(f"DELETE FROM {DATASET}.job_sync_status")
        db.execute(fill_sql(now, days, regular, load_id))
        db.execute("CHECKPOINT")
        syncs = db.execute(f"SELECT COUNT(*) FROM {DATASET}.job_sync_status").fetchone()[0]
    return env, syncs


def build_postgres(folder: Path, url: str, now: datetime, days: int, regular: int) -> tuple[dict[str, str], int]:
    import psycopg2

    env = real_run(folder, regular, {"DESTINATION__POSTGRES__CREDENTIALS": url}, ["--destination", "postgres"])
    with psycopg2.connect(url) as connection, connection.cursor() as cursor:
        cursor.execute(f"SELECT MAX(load_id) FROM {DATASET}._dlt_loads")
        load_id = cursor.fetchone()[0]
        cursor.execute(f"DELETE FROM {DATASET}.job_sync_status")
        cursor.execute(fill_sql(now, days, regular, load_id))
        cursor.execute(f"SELECT COUNT(*) FROM {DATASET}.job_sync_status")
        syncs = cursor.fetchone()[0]
    connection = psycopg2.connect(url)
    connection.autocommit = True  # VACUUM runs outside a transaction: the statistics a real table would have
    connection.cursor().execute(f"VACUUM ANALYZE {DATASET}.job_sync_status")
    connection.close()
    return env, syncs


def timed_command(argv: Sequence[str], folder: Path, env: dict[str, str], timeout: float) -> dict[str, Any]:
    """Run one CLI command under GNU time: its wall, CPU and peak RSS, or did_not_finish past `timeout` (the
    whole process group is killed). GNU time, not our own wait4: a child forked from this process (which
    holds a DuckDB build in memory) would count our RSS at the fork as its own peak."""
    stats = folder / "time.txt"
    process = subprocess.Popen([TIME, "-f", "%e %U %S %M", "-o", str(stats), CLI, *argv], cwd=folder, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        _, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        return {"did_not_finish": True, "timeout_s": timeout}
    if process.returncode not in (0, 1):
        raise RuntimeError(f"braze-cdi {' '.join(argv)} failed ({process.returncode}):\n{stderr[-3000:]}")
    wall, user, system, rss_kb = stats.read_text().split()[-4:]
    return {"did_not_finish": False, "wall_s": float(wall), "cpu_s": float(user) + float(system),
            "peak_rss_mb": int(rss_kb) / 1024, "exit_code": process.returncode}


COMMANDS = {"health": ["health"], "report": ["report"], "report_html": ["report", "--html", "report.html"]}


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median of the finished repeats; did_not_finish when any repeat did not finish."""
    if any(r["did_not_finish"] for r in runs):
        return {"did_not_finish": True, "timeout_s": runs[0].get("timeout_s"), "runs": runs}
    keys = ("wall_s", "cpu_s", "peak_rss_mb") + (("page_mb",) if "page_mb" in runs[0] else ())
    return {"did_not_finish": False, **{k: statistics.median(r[k] for r in runs) for k in keys}, "runs": runs}


def measure(datasets: dict[str, tuple[Path, dict[str, str]]], repeats: int, timeout: float,
            log: Any) -> dict[str, dict[str, Any]]:
    """Every command on every dataset, the datasets alternating within each repeat."""
    raw: dict[str, dict[str, list]] = {d: {c: [] for c in COMMANDS} for d in datasets}
    for repeat in range(repeats):
        for command, argv in COMMANDS.items():
            for name, (folder, env) in datasets.items():
                if raw[name][command] and raw[name][command][-1]["did_not_finish"]:
                    continue  # once past the timeout, not again
                page = folder / "report.html"
                page.unlink(missing_ok=True)
                result = timed_command(argv, folder, env, timeout)
                if command == "report_html" and not result["did_not_finish"]:
                    result["page_mb"] = page.stat().st_size / 1e6
                raw[name][command].append(result)
                shown = "did not finish" if result["did_not_finish"] else f"{result['wall_s']:.1f} s"
                log(f"  repeat {repeat + 1}: {command} on {name}: {shown}")
    return {name: {c: summarize(runs) for c, runs in commands.items()} for name, commands in raw.items()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.history")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    parser.add_argument("--integrations", type=int, default=None)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds before a command is killed")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    integrations = args.integrations or (4 if args.quick else 300)
    short_days, long_days, pg_days = (35, 365, 104) if not args.quick else (3, 12, 3)
    repeats = args.repeats or (1 if args.quick else 2)
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    began = time.monotonic()

    def log(message: str) -> None:
        print(f"[{time.monotonic() - began:6.1f}s] {message}", file=sys.stderr, flush=True)

    root = Path(tempfile.mkdtemp(prefix="braze_cdi_history_", dir=os.environ.get("BENCH_TMP")))
    result: dict[str, Any] = {"integrations": integrations, "crafted": 2, "slot_minutes": SLOT_SECONDS // 60,
                              "timeout_s": args.timeout, "repeats": repeats, "datasets": {}}
    try:
        datasets = {}
        log(f"the real run both datasets start from: {integrations} integrations")
        env = real_run(root / "35_days", integrations)
        shutil.copytree(root / "35_days", root / "year")  # the same tables, schema and state: one run, not two
        envs = {"35_days": env, "year": {**env, "DLT_DATA_DIR": str(root / "year" / "dlt_data")}}
        for name, days in (("35_days", short_days), ("year", long_days)):
            log(f"building {name}: {integrations} integrations x {days} days")
            started = time.perf_counter()
            env, syncs = build_duckdb(root / name, now, days, integrations, envs[name])
            datasets[name] = (root / name, env)
            result["datasets"][name] = {"days": days, "syncs": syncs, "build_s": time.perf_counter() - started,
                                        "file_mb": (root / name / "braze_cdi.duckdb").stat().st_size / 1e6}
        log("timing health, report, report --html")
        result["duckdb"] = measure(datasets, repeats, args.timeout, log)
        if not args.no_postgres:
            result["postgres"] = postgres_case(root / "postgres", now, pg_days, integrations, repeats, args.timeout,
                                               log)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(result, indent=None if args.json else 1), flush=True)
    return 0


def postgres_case(folder: Path, now: datetime, days: int, regular: int, repeats: int, timeout: float,
                  log: Any) -> dict[str, Any]:
    from urllib.parse import parse_qs, urlsplit

    import pgserver

    data = tempfile.mkdtemp(prefix="braze_cdi_pg_", dir=os.environ.get("BENCH_TMP"))
    server = pgserver.get_server(data, cleanup_mode="stop")
    try:
        socket_dir = parse_qs(urlsplit(server.get_uri()).query)["host"][0]
        url = f"postgresql://postgres:unused@localhost:5432/postgres?host={socket_dir}"
        log(f"building postgres: {regular} integrations x {days} days")
        started = time.perf_counter()
        env, syncs = build_postgres(folder, url, now, days, regular)
        build = time.perf_counter() - started
        env["DESTINATION__POSTGRES__CREDENTIALS"] = url
        runs = []
        for repeat in range(repeats):
            runs.append(timed_command(["health", "--destination", "postgres"], folder, env, timeout))
            shown = "did not finish" if runs[-1]["did_not_finish"] else f"{runs[-1]['wall_s']:.1f} s"
            log(f"  repeat {repeat + 1}: health on postgres: {shown}")
        return {"days": days, "syncs": syncs, "build_s": build, "health": summarize(runs)}
    finally:
        server.cleanup()
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    sys.exit(main())


# --- RESULTS.md: figure 12's summary row and section (`benchmarks.run` writes them) ---------------------------

SECTION = "## 12. History size"
BASELINE_FILE = Path(__file__).with_name("history_baseline.json")
"""The same benchmark run on the code before the bounded reads (kept, so every later run shows the change)."""

TARGETS = {"health": (2.0, 500.0), "report": (3.0, None), "report_html": (10.0, None)}
LABELS = {"health": "`braze-cdi health`", "report": "`braze-cdi report`", "report_html": "`braze-cdi report --html`"}


def _cell(figure: dict[str, Any] | None) -> str:
    if not figure:
        return "–"
    if figure["did_not_finish"]:
        return f"did not finish in {figure['timeout_s']:g} s"
    page = f", page {figure['page_mb']:.1f} MB" if "page_mb" in figure else ""
    return f"{figure['wall_s']:.1f} s wall, {figure['cpu_s']:.1f} s CPU, {figure['peak_rss_mb']:.0f} MB{page}"


def _ratio(result: dict[str, Any], command: str) -> float | None:
    short, year = result["duckdb"]["35_days"][command], result["duckdb"]["year"][command]
    if short["did_not_finish"] or year["did_not_finish"]:
        return None
    return year["wall_s"] / short["wall_s"]


def _met(result: dict[str, Any], command: str) -> bool:
    year = result["duckdb"]["year"][command]
    wall, rss = TARGETS[command]
    if year["did_not_finish"] or year["wall_s"] > wall or (rss is not None and year["peak_rss_mb"] > rss):
        return False
    if command == "report_html" and year["page_mb"] > 5.0:
        return False
    ratio = _ratio(result, command)
    return command == "report" or (ratio is not None and ratio <= 1.3)


def summary_row(result: dict[str, Any]) -> str:
    year, pg = result["datasets"]["year"], result.get("postgres")
    ratios = ", ".join(f"{c} {r:.2f}×" if (r := _ratio(result, c)) is not None else f"{c} –"
                       for c in ("health", "report_html"))
    pg_ok = pg is not None and not pg["health"]["did_not_finish"] and pg["health"]["wall_s"] <= 2.0
    ok = all(_met(result, c) for c in TARGETS) and pg_ok
    return (
        f"| 12 | a year of history ({year['syncs']:,} syncs) on DuckDB: health / report / report --html | "
        f"{' / '.join(_cell(result['duckdb']['year'][c]) for c in TARGETS)} | 35 days "
        f"({result['datasets']['35_days']['syncs']:,} syncs): "
        f"{' / '.join(_cell(result['duckdb']['35_days'][c]) for c in TARGETS)}; PostgreSQL "
        f"{pg['syncs'] if pg else 0:,} syncs health: {_cell(pg['health'] if pg else None)} | "
        f"year / 35 days: {ratios} | "
        "health ≤ 2 s and ≤ 500 MB, report ≤ 3 s, report --html ≤ 10 s and ≤ 5 MB; year / 35 days ≤ 1.3×; "
        f"PostgreSQL health ≤ 2 s | {'met' if ok else '**missed**'} |"
    )


def section(result: dict[str, Any], command: str) -> str:
    """Figure 12 as a RESULTS.md section: both datasets side by side, with the baseline's figures if kept."""
    baseline = json.loads(BASELINE_FILE.read_text()) if BASELINE_FILE.exists() else None
    d = result["datasets"]
    lines = [
        f"{SECTION} (`benchmarks/history.py`)", "",
        f"Produced by `{command}`. {result['integrations']} integrations every {result['slot_minutes']} minutes plus "
        "2 crafted ones (last success 60 days ago then failing every sync; stopped 40 days ago), from a real "
        "`braze-cdi run` against the simulator, then filled with SQL: 35 days "
        f"({d['35_days']['syncs']:,} syncs, {d['35_days']['file_mb']:.0f} MB file) and a year "
        f"({d['year']['syncs']:,} syncs, {d['year']['file_mb']:.0f} MB), the same 30 days in the window. Each "
        f"command is a subprocess (GNU time: wall, CPU, peak RSS), median of {result['repeats']} repeat(s), the two "
        f"datasets alternating; killed after {result['timeout_s']:g} s.", "",
        f"| command | {d['35_days']['days']} days | {d['year']['days']} days | year / 35 days (wall) | target | |",
        "|---|---|---|---|---|---|",
    ]
    for c in TARGETS:
        ratio = _ratio(result, c)
        wall, rss = TARGETS[c]
        target = f"year ≤ {wall:g} s" + (f", ≤ {rss:g} MB" if rss else "") + (
            ", page ≤ 5 MB" if c == "report_html" else "") + ("; ≤ 1.3×" if c != "report" else "")
        lines.append(f"| {LABELS[c]} | {_cell(result['duckdb']['35_days'][c])} | {_cell(result['duckdb']['year'][c])} "
                     f"| {'–' if ratio is None else f'{ratio:.2f}×'} | {target} | "
                     f"{'met' if _met(result, c) else '**missed**'} |")
    pg = result.get("postgres")
    if pg:
        ok = not pg["health"]["did_not_finish"] and pg["health"]["wall_s"] <= 2.0
        lines.append(f"| `braze-cdi health` on PostgreSQL, {pg['syncs']:,} syncs ({pg['days']} days) | | "
                     f"{_cell(pg['health'])} | | ≤ 2 s | {'met' if ok else '**missed**'} |")
    if baseline:
        lines += ["", f"Before (the same benchmark on {baseline['code']}, {baseline['when']}; the same sizes):", "",
                  "| command | 35 days | a year |", "|---|---|---|"]
        for c in TARGETS:
            lines.append(f"| {LABELS[c]} | {_cell(baseline['duckdb']['35_days'][c])} | "
                         f"{_cell(baseline['duckdb']['year'][c])} |")
        if baseline.get("postgres"):
            lines.append(f"| `braze-cdi health` on PostgreSQL, {baseline['postgres']['syncs']:,} syncs | | "
                         f"{_cell(baseline['postgres']['health'])} |")
    return "\n".join(lines) + "\n"
