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
-- Written once for every warehouse (views.py renders it per dialect with sqlglot): no FILTER (WHERE),
-- no interval arithmetic, no ordered-set aggregates. Three macros are expanded by views.py:
--   SECONDS_BETWEEN(a, b)        b - a in seconds (a date diff in microseconds), NULL when either is NULL
--   UTC_DAY(ts)                  the UTC calendar day of an instant
--   RANKED_PERCENTILE(v, r, n, p) percentile_cont(p) of v, from v's rank r (1-based, ascending) among n values
-- Extending: a new input is a CTE keyed by integration_id (over a new base table: list it in views.py
-- _BASE_TABLES with its columns, and it gets its qualified name, or an empty stand-in until it is loaded),
-- LEFT JOINed in `facts` with its columns, and used in the CASE below. Add the new columns to
-- health.py DETAIL_COLUMNS for `health` and `report` to read them.
WITH ids AS (
    SELECT integration_id FROM integrations
    UNION
    SELECT integration_id FROM job_sync_status
),
dated AS (  -- a sync dated beyond now plus the tolerance is named, and left out of every other fact
    SELECT s.integration_id,
           s.job_status,
           s.sync_start_time,
           s.sync_finish_time,
           s.last_timestamp_synced,
           s.rows_synced,
           s.rows_failed_with_errors,
           COALESCE(SECONDS_BETWEEN(CURRENT_TIMESTAMP, s.sync_start_time) > {future_sync_seconds}, FALSE) AS future
    FROM job_sync_status AS s
),
future_dated AS (
    SELECT integration_id,
           COUNT(*) AS future_syncs,
           MAX(sync_start_time) AS newest_future_sync_start_time
    FROM dated
    WHERE future
    GROUP BY integration_id
),
syncs AS (
    SELECT s.integration_id,
           s.job_status,
           s.sync_start_time,
           s.sync_finish_time,
           s.last_timestamp_synced,
           s.rows_synced,
           s.rows_failed_with_errors,
           COALESCE(s.job_status, '') <> 'running' AS finished,
           COALESCE(s.job_status, '') IN ('error', 'config_error') AS failed,
           SECONDS_BETWEEN(s.sync_start_time, s.sync_finish_time) AS duration_seconds,
           SECONDS_BETWEEN(s.sync_start_time, CURRENT_TIMESTAMP) AS age_seconds,
           ROW_NUMBER() OVER (PARTITION BY s.integration_id ORDER BY s.sync_start_time DESC) AS recency,
           SECONDS_BETWEEN(
               LAG(s.sync_start_time) OVER (PARTITION BY s.integration_id ORDER BY s.sync_start_time),
               s.sync_start_time
           ) AS gap_seconds
    FROM dated AS s
    WHERE NOT s.future
),
finished AS (
    SELECT integration_id, job_status, sync_start_time, failed,
           ROW_NUMBER() OVER (PARTITION BY integration_id ORDER BY sync_start_time DESC) AS recency
    FROM syncs
    WHERE finished
),
finished_stats AS (
    SELECT integration_id,
           COUNT(*) AS finished_syncs,
           MIN(CASE WHEN NOT failed THEN recency END) AS first_ok_recency
    FROM finished
    GROUP BY integration_id
),
streak AS (
    SELECT f.integration_id,
           COUNT(*) AS consecutive_failures,
           MIN(f.sync_start_time) AS failing_since
    FROM finished AS f
    JOIN finished_stats AS fs ON fs.integration_id = f.integration_id
    WHERE f.recency < COALESCE(fs.first_ok_recency, fs.finished_syncs + 1)
    GROUP BY f.integration_id
),
stats AS (
    SELECT integration_id,
           COUNT(*) AS syncs,
           MAX(CASE WHEN job_status = 'success' THEN sync_finish_time END) AS last_success_time,
           SUM(CASE WHEN finished AND age_seconds <= 604800 THEN 1 ELSE 0 END) AS finished_7d,
           SUM(CASE WHEN job_status = 'success' AND age_seconds <= 604800 THEN 1 ELSE 0 END) AS successes_7d,
           SUM(CASE WHEN finished AND age_seconds <= 2592000 THEN 1 ELSE 0 END) AS finished_30d,
           SUM(CASE WHEN job_status = 'success' AND age_seconds <= 2592000 THEN 1 ELSE 0 END) AS successes_30d,
           SUM(CASE WHEN failed AND age_seconds <= 2592000 THEN 1 ELSE 0 END) AS failures_30d,
           SUM(CASE WHEN age_seconds <= 2592000 THEN rows_synced END) AS rows_synced_30d,
           SUM(CASE WHEN age_seconds <= 2592000 THEN rows_failed_with_errors END) AS rows_failed_30d
    FROM syncs
    GROUP BY integration_id
),
recent_durations AS (  -- finished syncs of the last 30 days, ranked by duration for the percentiles
    SELECT integration_id,
           duration_seconds,
           ROW_NUMBER() OVER (PARTITION BY integration_id ORDER BY duration_seconds) AS value_rank,
           COUNT(*) OVER (PARTITION BY integration_id) AS value_count
    FROM syncs
    WHERE duration_seconds IS NOT NULL AND age_seconds <= 2592000
),
duration_percentiles AS (
    SELECT integration_id,
           RANKED_PERCENTILE(duration_seconds, value_rank, value_count, 0.5) AS p50_duration_seconds,
           RANKED_PERCENTILE(duration_seconds, value_rank, value_count, 0.95) AS p95_duration_seconds
    FROM recent_durations
    GROUP BY integration_id
),
gaps AS (  -- time between consecutive sync starts, ranked for the median (the typical interval)
    SELECT integration_id,
           gap_seconds,
           ROW_NUMBER() OVER (PARTITION BY integration_id ORDER BY gap_seconds) AS value_rank,
           COUNT(*) OVER (PARTITION BY integration_id) AS value_count
    FROM syncs
    WHERE gap_seconds IS NOT NULL
),
typical_interval AS (
    SELECT integration_id,
           RANKED_PERCENTILE(gap_seconds, value_rank, value_count, 0.5) AS typical_interval_seconds
    FROM gaps
    GROUP BY integration_id
),
latest AS (
    SELECT integration_id, job_status, sync_start_time, age_seconds
    FROM syncs
    WHERE recency = 1
),
latest_finished AS (
    SELECT integration_id, job_status, sync_start_time
    FROM finished
    WHERE recency = 1
),
loaded AS (  -- syncs that moved data: their watermark is the integration's current one
    SELECT integration_id, sync_start_time, last_timestamp_synced,
           ROW_NUMBER() OVER (PARTITION BY integration_id ORDER BY sync_start_time DESC) AS recency
    FROM syncs
    WHERE job_status IN ('success', 'partial') AND last_timestamp_synced IS NOT NULL
),
watermark_now AS (
    SELECT integration_id, last_timestamp_synced
    FROM loaded
    WHERE recency = 1
),
watermark AS (
    SELECT l.integration_id,
           MAX(w.last_timestamp_synced) AS last_timestamp_synced,
           COUNT(*) AS loaded_syncs,
           MIN(CASE WHEN l.last_timestamp_synced <> w.last_timestamp_synced THEN l.recency END) AS first_moved_recency
    FROM loaded AS l
    JOIN watermark_now AS w ON w.integration_id = l.integration_id
    GROUP BY l.integration_id
),
watermark_run AS (  -- the newest loaded syncs that all carry the current watermark
    SELECT l.integration_id,
           MIN(l.sync_start_time) AS watermark_since
    FROM loaded AS l
    JOIN watermark AS w ON w.integration_id = l.integration_id
    WHERE l.recency < COALESCE(w.first_moved_recency, w.loaded_syncs + 1)
    GROUP BY l.integration_id
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
           l.sync_start_time AS last_sync_start_time,
           l.job_status AS last_job_status,
           st.last_success_time,
           CAST(COALESCE(k.consecutive_failures, 0) AS BIGINT) AS consecutive_failures,
           k.failing_since,
           CAST(st.successes_7d AS DOUBLE) / NULLIF(st.finished_7d, 0) AS success_rate_7d,
           CAST(st.successes_30d AS DOUBLE) / NULLIF(st.finished_30d, 0) AS success_rate_30d,
           dp.p50_duration_seconds,
           dp.p95_duration_seconds,
           CAST(COALESCE(st.syncs, 0) AS BIGINT) AS syncs,
           CAST(COALESCE(fs.finished_syncs, 0) AS BIGINT) AS finished_syncs,
           CAST(COALESCE(st.finished_30d, 0) AS BIGINT) AS finished_syncs_30d,
           CAST(COALESCE(st.failures_30d, 0) AS BIGINT) AS failures_30d,
           CAST(COALESCE(st.rows_synced_30d, 0) AS BIGINT) AS rows_synced_30d,
           CAST(COALESCE(st.rows_failed_30d, 0) AS BIGINT) AS rows_failed_30d,
           lf.job_status AS last_finished_status,
           lf.sync_start_time AS last_finished_start_time,
           CASE WHEN l.job_status = 'running' THEN l.sync_start_time END AS running_since,
           CASE WHEN l.job_status = 'running' THEN l.age_seconds END AS running_seconds,
           l.age_seconds AS seconds_since_last_sync,
           ti.typical_interval_seconds,
           CAST({stale_after_seconds} AS DOUBLE) AS stale_after_seconds,
           w.last_timestamp_synced,
           wr.watermark_since,
           CAST(COALESCE(w.first_moved_recency - 1, w.loaded_syncs) - 1 AS BIGINT) AS syncs_since_watermark_moved,
           COALESCE(SECONDS_BETWEEN(CURRENT_TIMESTAMP, w.last_timestamp_synced) > {watermark_future_seconds}, FALSE)
               AS watermark_in_future
    FROM ids
    LEFT JOIN integrations AS i ON i.integration_id = ids.integration_id
    LEFT JOIN stats AS st ON st.integration_id = ids.integration_id
    LEFT JOIN finished_stats AS fs ON fs.integration_id = ids.integration_id
    LEFT JOIN streak AS k ON k.integration_id = ids.integration_id
    LEFT JOIN duration_percentiles AS dp ON dp.integration_id = ids.integration_id
    LEFT JOIN typical_interval AS ti ON ti.integration_id = ids.integration_id
    LEFT JOIN latest AS l ON l.integration_id = ids.integration_id
    LEFT JOIN latest_finished AS lf ON lf.integration_id = ids.integration_id
    LEFT JOIN watermark AS w ON w.integration_id = ids.integration_id
    LEFT JOIN watermark_run AS wr ON wr.integration_id = ids.integration_id
)
-- New columns go after `health` (PostgreSQL refuses CREATE OR REPLACE VIEW when existing columns move),
-- so inputs added later are joined here rather than in facts (whose columns f.* lists before `health`).
SELECT f.*,
       COALESCE(f.syncs_since_watermark_moved >= {watermark_stall_syncs}, FALSE) AS watermark_stalled,
       CASE
           WHEN f.last_job_status = 'running' AND f.running_seconds > {stuck_after_seconds} THEN 'stuck'
           WHEN f.syncs = 0 AND fd.future_syncs IS NULL THEN 'unknown'
           WHEN f.consecutive_failures >= {failing_after_failures} THEN 'failing'
           WHEN COALESCE(f.last_job_status, '') <> 'running' AND f.seconds_since_last_sync > f.stale_after_seconds
                AND COALESCE(LOWER(f.integration_status), '') <> 'paused'
               THEN 'stale'
           WHEN f.finished_syncs = 0 AND NOT COALESCE(b.backfill_in_progress, FALSE) AND fd.future_syncs IS NULL
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
       fd.newest_future_sync_start_time
FROM facts AS f
LEFT JOIN backfill AS b ON b.integration_id = f.integration_id
LEFT JOIN future_dated AS fd ON fd.integration_id = f.integration_id
