"""`braze-cdi demo`: the whole job with no Braze account, against the bundled simulator."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import click

from ..job import RunContext, RunSummary, make_pipeline, run_pipeline
from ..settings import DEFAULT_DATASET_NAME
from .main import emit, handle_errors, is_json, main, out, say
from .reports import show_report
from .run_command import print_summary, progress_display


@main.command()
@click.option("--integrations", default=6, show_default=True, help="How many simulated integrations.")
@click.option("--seed", default=7, show_default=True, help="Seed of the simulated history.")
@handle_errors
def demo(integrations: int, seed: int) -> None:
    """The whole job with no Braze account: simulator → local DuckDB → report."""
    from ..extract.source import braze_cdi_source
    from ..simulator import BrazeSimulator

    pipeline_name = "braze_cdi_demo"
    counts = [0, 7, 11, 45, 137, 260][:integrations] + [30] * max(0, integrations - 6)
    # History ends a little before now, so the syncs "run meanwhile" before the second run are in the past.
    anchor = datetime.now(timezone.utc) - timedelta(hours=2, minutes=30)
    with BrazeSimulator(counts, seed=seed, now=anchor) as sim:
        say(f"Braze simulator on {sim.base_url} with {len(counts)} integrations.", markup=False)
        pipeline = make_pipeline(pipeline_name, "duckdb", DEFAULT_DATASET_NAME).drop()  # no state, no old rows
        Path(f"{pipeline_name}.duckdb").unlink(missing_ok=True)

        def run_once() -> RunSummary:
            context = RunContext()
            source = braze_cdi_source(api_key=sim.api_key, base_url=sim.base_url, run_context=context)
            return run_pipeline(pipeline, source, progress=progress_display(context.stats), context=context)

        _rule("first run: full backfill")
        print_summary(run_once())
        finished = sim.finish_running()
        hourly = [i for i in sim.integration_ids if _median_gap_minutes(sim.truth(i)) <= 90]
        added = sum(len(sim.add_syncs(i, 2)) for i in hourly)
        _rule(f"second run: {added} new syncs, {finished} running sync(s) finished meanwhile")
        print_summary(run_once())
    show_report(pipeline)


def _rule(title: str) -> None:
    if is_json():
        emit({"message": title})
    else:
        out.rule(title)


def _median_gap_minutes(history: list[dict]) -> float:
    starts = [sync["sync_start_time"] for sync in history]
    gaps = sorted((a - b).total_seconds() / 60 for a, b in zip(starts, starts[1:], strict=False))
    return gaps[len(gaps) // 2] if gaps else float("inf")
