"""The per-integration cursor on a fixed clock: how far back a run reads, and what it leaves for the next one.

`SyncCursor` takes `now` as an argument, so the clock is simply a fixed instant here.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from braze_cdi_source.extract.integration_state import SyncCursor

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)
DAY = timedelta(hours=24)


def ago(**delta: float) -> datetime:
    return NOW - timedelta(**delta)


def run(cursor: SyncCursor, rows: list[tuple[datetime, str]]) -> dict:
    """One run that read `rows` back to the boundary; the state it leaves."""
    cursor.boundary(NOW)
    for start, status in rows:
        cursor.see(start, status, NOW)
    return cursor.to_state()


def next_cursor(state: dict, start_date: datetime | None = None, max_running: timedelta = DAY) -> SyncCursor:
    return SyncCursor.from_state(state, start_date, max_running)


def test_a_first_run_reads_everything_or_back_to_start_date():
    assert next_cursor({}).boundary(NOW) is None
    assert next_cursor({}, start_date=ago(days=30)).boundary(NOW) == ago(days=30)


def test_the_next_run_reads_back_to_the_newest_start_it_loaded():
    state = run(next_cursor({}), [(ago(hours=1), "success"), (ago(hours=2), "error"), (ago(hours=3), "success")])
    assert next_cursor(state).boundary(NOW) == ago(hours=1)


def test_a_running_sync_pulls_the_boundary_back_to_it_until_it_finishes():
    first = run(next_cursor({}), [(ago(hours=1), "success"), (ago(hours=5), "running"), (ago(hours=6), "success")])
    # five syncs after it or none, the next run reads back to the sync still open
    assert next_cursor(first).boundary(NOW) == ago(hours=5)
    # it finished: the run after that reads back to the newest start only
    second = run(next_cursor(first), [(ago(hours=1), "success"), (ago(hours=5), "success")])
    assert second["open_sync_start_times"] == []
    assert next_cursor(second).boundary(NOW) == ago(hours=1)


def test_the_oldest_of_several_open_syncs_sets_the_boundary():
    state = run(next_cursor({}), [(ago(hours=1), "running"), (ago(hours=3), "running"), (ago(hours=4), "success")])
    assert len(state["open_sync_start_times"]) == 2
    assert next_cursor(state).boundary(NOW) == ago(hours=3)


def test_a_sync_running_longer_than_max_running_is_no_longer_read_back_to():
    state = run(next_cursor({}), [(ago(hours=1), "success"), (ago(hours=10), "running")])
    assert next_cursor(state, max_running=timedelta(hours=12)).boundary(NOW) == ago(hours=10)
    assert next_cursor(state, max_running=timedelta(hours=8)).boundary(NOW) == ago(hours=1)
    # and a sync seen running already past the limit is not kept open at all
    eight_hours = timedelta(hours=8)
    stale = run(next_cursor({}, max_running=eight_hours), [(ago(hours=1), "success"), (ago(hours=10), "running")])
    assert stale["open_sync_start_times"] == []


def test_start_date_raises_the_boundary_but_never_lowers_it():
    week = 7 * DAY
    state = run(next_cursor({}, max_running=week), [(ago(hours=1), "success"), (ago(days=3), "running")])
    assert next_cursor(state, max_running=7 * DAY).boundary(NOW) == ago(days=3)
    assert next_cursor(state, start_date=ago(days=2), max_running=7 * DAY).boundary(NOW) == ago(days=2)
    assert next_cursor(state, start_date=ago(days=9), max_running=7 * DAY).boundary(NOW) == ago(days=3)


def test_a_run_that_saw_nothing_new_keeps_the_cursor_where_it_was():
    state = run(next_cursor({}), [(ago(hours=1), "success")])
    again = run(next_cursor(state), [(ago(hours=1), "success")])  # only the boundary row, read again
    assert again["last_sync_start_time"] == state["last_sync_start_time"]
    assert run(next_cursor(state), []) == {"last_sync_start_time": state["last_sync_start_time"],
                                           "open_sync_start_times": []}


def test_instants_compare_as_instants_whatever_their_text():
    # as text "…00.500Z" sorts before "…00Z"; as instants it is half a second later
    state = {"last_sync_start_time": "2026-11-28T10:00:00Z", "open_sync_start_times": ["2026-11-28T09:59:59.500+00:00"]}
    cursor = next_cursor(state)
    assert cursor.boundary(NOW) == datetime(2026, 11, 28, 9, 59, 59, 500_000, tzinfo=timezone.utc)
    cursor.see(datetime(2026, 11, 28, 10, 0, 0, 500_000, tzinfo=timezone.utc), "success", NOW)
    assert cursor.to_state()["last_sync_start_time"] == "2026-11-28T10:00:00.500000+00:00"
