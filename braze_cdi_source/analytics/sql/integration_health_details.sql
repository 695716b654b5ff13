-- integration_health_details: integration_health plus the facts behind each health class.
-- Rules (first match wins, thresholds are rendered in by views.py, see HealthThresholds):
--   stuck    the newest sync is running and started more than stuck_after_seconds ago
--   unknown  no sync at all (future-dated ones aside)
--   failing  the newest failing_after_failures finished syncs are all error / config_error
--   stale    the newest sync is finished and started more than stale_after_seconds ago, and the
--            integration is not paused (integration_status 'paused': no sync is expected)
--   unknown  only running syncs (nothing finished to judge), unless its first backfill is still in progress
--   degraded the newest finished sync failed (a streak shorter than failing), or success_rate_7d is below
--            the threshold (not judged while a backfill has not yet covered the 7 days), or the watermark is
--            in the future, or it has not moved for many successful syncs, or some sync starts more than
--            future_sync_seconds after now (a future-dated sync: left out of every other fact and check)
-- Backfill: integration_backfill (one row per integration, written by each slice of a run) says whether the
-- first read of its history is complete and how far back it is covered so far.
--   healthy  otherwise
-- "now" is CURRENT_TIMESTAMP, windows are in seconds, never calendar days, so every engine agrees.
--
-- Cost follows the window, not the history. `recent` is the last 30 days: a range on sync_start_time that
-- engines prune by (zone maps, partitions, the PostgreSQL index on integration_id, sync_start_time). Rates,
-- percentiles and the typical interval read it, and so does everything else for an integration whose newest
-- success, newest loaded sync, last watermark move and two syncs are all in it. Only the others (failing or
-- stopped for longer, never successful) also read their `older` history. No window function or sort runs
-- over the whole history, the only whole-history read is the list of integration ids.
-- DuckDB reads `recent` and `syncs` where they are used (NOT MATERIALIZED: a zone-map-pruned scan costs less
-- than holding ~900k rows twice, 160 MB at a year), every other dialect gets plain CTEs (PostgreSQL's own
-- materialization is much faster there than re-reading the window through its index).
--
-- Written once for every warehouse (views.py renders it per dialect with sqlglot): no FILTER (WHERE),
-- no interval arithmetic, no ordered-set aggregates (PERCENTILE is a macro). Macros expanded by view_sql.py:
--   SECONDS_BETWEEN(a, b)        b - a in seconds (a date diff in microseconds), NULL when either is NULL
--   UTC_DAY(ts)                  the UTC calendar day of an instant
--   ADD_SECONDS(ts, n)           the instant n seconds after ts (before it when n < 0), comparable to a column
--   PERCENTILE(v, p)             the aggregate percentile_cont(p) of v over the group's non-null values
--   INTEGRATION_LABEL(id, name, n) the name, with the id's first block when n integrations share it (n > 1)
-- Extending: a new input is a CTE keyed by integration_id (over a new base table: list it in views.py
-- _BASE_TABLES with its columns, and it gets its qualified name, or an empty stand-in until it is loaded),
-- LEFT JOINed in `facts` with its columns, and used in the CASE below. Add the new columns to
-- health.py DETAIL_COLUMNS for `health` and `report` to read them.
WITH ids AS (  -- every integration: listed by Braze, or seen in the sync history (grouped first: no sort),
    -- numbered: a window partitioned by the number sorts in half the time it takes by the text id
    SELECT integration_id, ROW_NUMBER() OVER (ORDER BY integration_id) AS integration_number
    FROM (
        SELECT integration_id FROM integrations
        UNION
        SELECT integration_id FROM job_sync_status GROUP BY integration_id
    ) AS u
),
recent AS NOT MATERIALIZED (  -- the last 30 days' syncs, future-dated ones aside (read where used: see above)
    SELECT s.integration_id,
           s.job_status,
           s.sync_start_time,
           s.sync_finish_time,
           s.last_timestamp_synced,
           s.rows_synced,
           s.rows_failed_with_errors,
           s.sync_start_time >= ADD_SECONDS(CURRENT_TIMESTAMP, -604800) AS in_7d,
           SECONDS_BETWEEN(s.sync_start_time, s.sync_finish_time) AS duration_seconds
    FROM job_sync_status AS s  -- not joined to ids: every id in it is one (the join only cost a sort)
    WHERE s.integration_id IS NOT NULL
      AND s.sync_start_time >= ADD_SECONDS(CURRENT_TIMESTAMP, -2592000)
      AND s.sync_start_time <= ADD_SECONDS(CURRENT_TIMESTAMP, {future_sync_seconds})
),
recent_loaded AS (  -- the newest loaded sync (success or partial with a watermark) in the window
    SELECT integration_id,
           COUNT(*) AS syncs,
           MAX(CASE WHEN COALESCE(job_status, '') NOT IN ('running', 'error', 'config_error')
                    THEN sync_start_time END) AS last_ok_start,
           MAX(CASE WHEN job_status = 'success' THEN sync_start_time END) AS last_success_start,
           MAX(CASE WHEN job_status IN ('success', 'partial') AND last_timestamp_synced IS NOT NULL
                    THEN sync_start_time END) AS last_loaded_start,
           -- the watermark moved within the window when its loaded syncs carry more than one (no join needed)
           MIN(CASE WHEN job_status IN ('success', 'partial') THEN last_timestamp_synced END) AS lowest_watermark,
           MAX(CASE WHEN job_status IN ('success', 'partial') THEN last_timestamp_synced END) AS highest_watermark
    FROM recent
    GROUP BY integration_id
),
looking_back AS (  -- integrations whose answer is not all in the window: they read their older history too
    SELECT ids.integration_id
    FROM ids
    LEFT JOIN recent_loaded AS r ON r.integration_id = ids.integration_id
    WHERE r.syncs IS NULL OR r.syncs < 2 OR r.last_ok_start IS NULL OR r.last_success_start IS NULL
       OR r.last_loaded_start IS NULL OR r.lowest_watermark = r.highest_watermark
),
older AS (
    SELECT s.integration_id,
           s.job_status,
           s.sync_start_time,
           s.sync_finish_time,
           s.last_timestamp_synced
    FROM looking_back AS b
    JOIN job_sync_status AS s
      ON s.integration_id = b.integration_id AND s.sync_start_time < ADD_SECONDS(CURRENT_TIMESTAMP, -2592000)
),
syncs AS NOT MATERIALIZED (  -- the window, plus the older history of the integrations looking back
    SELECT integration_id, job_status, sync_start_time, sync_finish_time, last_timestamp_synced,
           COALESCE(job_status, '') <> 'running' AS finished,
           COALESCE(job_status, '') IN ('error', 'config_error') AS failed,
           COALESCE(job_status IN ('success', 'partial') AND last_timestamp_synced IS NOT NULL, FALSE) AS loaded
    FROM (
        SELECT integration_id, job_status, sync_start_time, sync_finish_time, last_timestamp_synced FROM recent
        UNION ALL
        SELECT integration_id, job_status, sync_start_time, sync_finish_time, last_timestamp_synced FROM older
    ) AS u
),
newest AS (  -- the start of each integration's newest sync of each kind
    SELECT integration_id,
           MAX(sync_start_time) AS last_start,
           MAX(CASE WHEN finished THEN sync_start_time END) AS last_finished_start,
           MAX(CASE WHEN finished AND NOT failed THEN sync_start_time END) AS last_ok_start,
           MAX(CASE WHEN job_status = 'success' THEN sync_start_time END) AS last_success_start,
           MAX(CASE WHEN loaded THEN sync_start_time END) AS last_loaded_start
    FROM syncs
    GROUP BY integration_id
),
newest_keys AS (  -- those syncs' keys (integration_id, sync_start_time: the merge key), one row each
    SELECT integration_id, 'last' AS kind, last_start AS sync_start_time FROM newest
    UNION ALL
    SELECT integration_id, 'finished' AS kind, last_finished_start AS sync_start_time FROM newest
    UNION ALL
    SELECT integration_id, 'success' AS kind, last_success_start AS sync_start_time FROM newest
    UNION ALL
    SELECT integration_id, 'loaded' AS kind, last_loaded_start AS sync_start_time FROM newest
),
newest_rows AS (  -- and their own columns, looked up by key
    SELECT k.integration_id,
           MAX(CASE WHEN k.kind = 'last' THEN s.job_status END) AS last_job_status,
           MAX(CASE WHEN k.kind = 'finished' THEN s.job_status END) AS last_finished_status,
           MAX(CASE WHEN k.kind = 'success' THEN s.sync_finish_time END) AS last_success_time,
           MAX(CASE WHEN k.kind = 'loaded' THEN s.last_timestamp_synced END) AS last_timestamp_synced
    FROM newest_keys AS k
    JOIN syncs AS s ON s.integration_id = k.integration_id AND s.sync_start_time = k.sync_start_time
    GROUP BY k.integration_id
),
streak AS (  -- in one pass: the finished syncs after the newest one that did not fail (all failed), and
    -- the newest loaded sync that carries another watermark than the newest loaded sync
    SELECT integration_id,
           SUM(CASE WHEN failing THEN 1 ELSE 0 END) AS consecutive_failures,
           MIN(CASE WHEN failing THEN sync_start_time END) AS failing_since,
           MAX(CASE WHEN moved THEN sync_start_time END) AS moved_start
    FROM (
        SELECT n.integration_id, s.sync_start_time,
               s.finished AND (n.last_ok_start IS NULL OR s.sync_start_time > n.last_ok_start) AS failing,
               s.loaded AND s.sync_start_time < n.last_loaded_start
                   AND s.last_timestamp_synced <> r.last_timestamp_synced AS moved
        FROM newest AS n
        JOIN newest_rows AS r ON r.integration_id = n.integration_id
        JOIN syncs AS s ON s.integration_id = n.integration_id
    ) AS f
    GROUP BY integration_id
),
watermark_run AS (  -- the loaded syncs since then: all carry the current watermark
    SELECT n.integration_id,
           COUNT(*) AS loaded_syncs,
           MIN(s.sync_start_time) AS watermark_since
    FROM newest AS n
    LEFT JOIN streak AS m ON m.integration_id = n.integration_id
    JOIN syncs AS s
      ON s.integration_id = n.integration_id
     AND s.sync_start_time > COALESCE(m.moved_start, CAST('1900-01-01 00:00:00+00:00' AS TIMESTAMPTZ))
     AND s.sync_start_time <= n.last_loaded_start
    WHERE s.loaded
    GROUP BY n.integration_id
),
future_dated AS (  -- a sync dated beyond now plus the tolerance is named, and left out of every other fact
    SELECT s.integration_id,
           COUNT(*) AS future_syncs,
           MAX(s.sync_start_time) AS newest_future_sync_start_time
    FROM job_sync_status AS s
    WHERE s.integration_id IS NOT NULL
      AND s.sync_start_time > ADD_SECONDS(CURRENT_TIMESTAMP, {future_sync_seconds})
    GROUP BY s.integration_id
),
stats AS (
    SELECT integration_id,
           COUNT(*) AS syncs_30d,
           SUM(CASE WHEN COALESCE(job_status, '') <> 'running' AND in_7d THEN 1 ELSE 0 END) AS finished_7d,
           SUM(CASE WHEN job_status = 'success' AND in_7d THEN 1 ELSE 0 END) AS successes_7d,
           SUM(CASE WHEN COALESCE(job_status, '') <> 'running' THEN 1 ELSE 0 END) AS finished_30d,
           SUM(CASE WHEN job_status = 'success' THEN 1 ELSE 0 END) AS successes_30d,
           SUM(CASE WHEN COALESCE(job_status, '') IN ('error', 'config_error') THEN 1 ELSE 0 END) AS failures_30d,
           SUM(rows_synced) AS rows_synced_30d,
           SUM(rows_failed_with_errors) AS rows_failed_30d,
           PERCENTILE(duration_seconds, 0.5) AS p50_duration_seconds,
           PERCENTILE(duration_seconds, 0.95) AS p95_duration_seconds
    FROM recent
    GROUP BY integration_id
),
gaps AS (  -- time between consecutive sync starts (one sort of the window, plus the older rows read back)
    SELECT integration_id,
           SECONDS_BETWEEN(previous_start, sync_start_time) AS gap_seconds,
           previous_start >= ADD_SECONDS(CURRENT_TIMESTAMP, -2592000) AS in_window
    FROM (
        SELECT s.integration_id, s.sync_start_time,
               LAG(s.sync_start_time) OVER (PARTITION BY ids.integration_number ORDER BY s.sync_start_time)
                   AS previous_start
        FROM syncs AS s
        JOIN ids ON ids.integration_id = s.integration_id
    ) AS l
),
typical_interval AS (  -- the median gap within the window, else (fewer than two syncs in it: every gap read is
    -- older) over the history read
    SELECT integration_id,
           COALESCE(PERCENTILE(CASE WHEN in_window THEN gap_seconds END, 0.5),
                    PERCENTILE(CASE WHEN NOT in_window THEN gap_seconds END, 0.5)) AS typical_interval_seconds
    FROM gaps
    GROUP BY integration_id
),
backfill AS (
    SELECT integration_id,
           COALESCE(NOT backfill_complete, FALSE) AS backfill_in_progress,
           covered_back_to AS backfill_covered_back_to
    FROM integration_backfill
),
facts AS (
    SELECT ids.integration_id,
           i.integration_name,
           i.integration_status,
           n.last_start AS last_sync_start_time,
           r.last_job_status,
           r.last_success_time,
           CAST(COALESCE(k.consecutive_failures, 0) AS BIGINT) AS consecutive_failures,
           k.failing_since,
           CAST(st.successes_7d AS DOUBLE) / NULLIF(st.finished_7d, 0) AS success_rate_7d,
           CAST(st.successes_30d AS DOUBLE) / NULLIF(st.finished_30d, 0) AS success_rate_30d,
           st.p50_duration_seconds,
           st.p95_duration_seconds,
           CAST(COALESCE(st.syncs_30d, 0) AS BIGINT) AS syncs_30d,
           CAST(COALESCE(st.finished_30d, 0) AS BIGINT) AS finished_syncs_30d,
           CAST(COALESCE(st.failures_30d, 0) AS BIGINT) AS failures_30d,
           CAST(COALESCE(st.rows_synced_30d, 0) AS BIGINT) AS rows_synced_30d,
           CAST(COALESCE(st.rows_failed_30d, 0) AS BIGINT) AS rows_failed_30d,
           r.last_finished_status,
           n.last_finished_start AS last_finished_start_time,
           CASE WHEN r.last_job_status = 'running' THEN n.last_start END AS running_since,
           CASE WHEN r.last_job_status = 'running' THEN SECONDS_BETWEEN(n.last_start, CURRENT_TIMESTAMP) END
               AS running_seconds,
           SECONDS_BETWEEN(n.last_start, CURRENT_TIMESTAMP) AS seconds_since_last_sync,
           ti.typical_interval_seconds,
           CAST({stale_after_seconds} AS DOUBLE) AS stale_after_seconds,
           r.last_timestamp_synced,
           wr.watermark_since,
           CAST(wr.loaded_syncs - 1 AS BIGINT) AS syncs_since_watermark_moved,
           COALESCE(SECONDS_BETWEEN(CURRENT_TIMESTAMP, r.last_timestamp_synced) > {watermark_future_seconds}, FALSE)
               AS watermark_in_future
    FROM ids
    LEFT JOIN integrations AS i ON i.integration_id = ids.integration_id
    LEFT JOIN newest AS n ON n.integration_id = ids.integration_id
    LEFT JOIN newest_rows AS r ON r.integration_id = ids.integration_id
    LEFT JOIN stats AS st ON st.integration_id = ids.integration_id
    LEFT JOIN streak AS k ON k.integration_id = ids.integration_id
    LEFT JOIN typical_interval AS ti ON ti.integration_id = ids.integration_id
    LEFT JOIN watermark_run AS wr ON wr.integration_id = ids.integration_id
)
-- New columns go after `health` (PostgreSQL refuses CREATE OR REPLACE VIEW when existing columns move),
-- so inputs added later are joined here rather than in facts (whose columns f.* lists before `health`).
SELECT f.*,
       COALESCE(f.syncs_since_watermark_moved >= {watermark_stall_syncs}, FALSE) AS watermark_stalled,
       CASE
           WHEN f.last_job_status = 'running' AND f.running_seconds > {stuck_after_seconds} THEN 'stuck'
           WHEN f.last_sync_start_time IS NULL AND fd.future_syncs IS NULL THEN 'unknown'
           WHEN f.consecutive_failures >= {failing_after_failures} THEN 'failing'
           WHEN COALESCE(f.last_job_status, '') <> 'running' AND f.seconds_since_last_sync > f.stale_after_seconds
                AND COALESCE(LOWER(f.integration_status), '') <> 'paused'
               THEN 'stale'
           WHEN f.last_finished_start_time IS NULL AND NOT COALESCE(b.backfill_in_progress, FALSE) AND fd.future_syncs IS NULL
               THEN 'unknown'
           WHEN f.consecutive_failures >= 1
               OR (f.success_rate_7d < {degraded_below_success_rate}
                   AND NOT (COALESCE(b.backfill_in_progress, FALSE)
                            AND COALESCE(SECONDS_BETWEEN(b.backfill_covered_back_to, CURRENT_TIMESTAMP), 0) < 604800))
               OR f.watermark_in_future
               OR f.syncs_since_watermark_moved >= {watermark_stall_syncs}
               OR fd.future_syncs IS NOT NULL
               THEN 'degraded'
           ELSE 'healthy'
       END AS health,
       COALESCE(b.backfill_in_progress, FALSE) AS backfill_in_progress,
       CASE WHEN b.backfill_in_progress THEN b.backfill_covered_back_to END AS backfill_covered_back_to,
       CAST(COALESCE(fd.future_syncs, 0) AS BIGINT) AS future_syncs,
       fd.newest_future_sync_start_time,
       INTEGRATION_LABEL(f.integration_id, f.integration_name,
                         COUNT(*) OVER (PARTITION BY COALESCE(f.integration_name, ''))) AS integration_label
FROM facts AS f
LEFT JOIN backfill AS b ON b.integration_id = f.integration_id
LEFT JOIN future_dated AS fd ON fd.integration_id = f.integration_id
