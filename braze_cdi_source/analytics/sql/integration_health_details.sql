-- integration_health_details: integration_health plus the facts behind each health class.
-- Rules (first match wins; thresholds are rendered in by views.py, see HealthThresholds):
--   stuck    the newest sync is running and started more than stuck_after_seconds ago
--   unknown  no sync at all
--   failing  the newest failing_after_failures finished syncs are all error / config_error
--   stale    the newest sync is finished and started more than stale_after_seconds ago, and the
--            integration is not paused (integration_status 'paused': no sync is expected)
--   unknown  only running syncs (nothing finished to judge)
--   degraded the newest finished sync failed (a streak shorter than failing), or success_rate_7d is below
--            the threshold, or the watermark is in the future, or it has not moved for many successful syncs
--   healthy  otherwise
-- "now" is CURRENT_TIMESTAMP; windows are in hours/seconds, never calendar days, so both engines agree.
WITH ids AS (
    SELECT integration_id FROM {integrations}
    UNION
    SELECT integration_id FROM {job_sync_status}
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
           CAST(EXTRACT(EPOCH FROM (s.sync_finish_time - s.sync_start_time)) AS DOUBLE PRECISION) AS duration_seconds,
           CAST(EXTRACT(EPOCH FROM (CURRENT_TIMESTAMP - s.sync_start_time)) AS DOUBLE PRECISION) AS age_seconds,
           ROW_NUMBER() OVER (PARTITION BY s.integration_id ORDER BY s.sync_start_time DESC) AS recency,
           CAST(EXTRACT(EPOCH FROM (s.sync_start_time - LAG(s.sync_start_time) OVER (
               PARTITION BY s.integration_id ORDER BY s.sync_start_time))) AS DOUBLE PRECISION) AS gap_seconds
    FROM {job_sync_status} AS s
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
           MAX(sync_finish_time) FILTER (WHERE job_status = 'success') AS last_success_time,
           COUNT(*) FILTER (WHERE finished AND age_seconds <= 604800) AS finished_7d,
           COUNT(*) FILTER (WHERE job_status = 'success' AND age_seconds <= 604800) AS successes_7d,
           COUNT(*) FILTER (WHERE finished AND age_seconds <= 2592000) AS finished_30d,
           COUNT(*) FILTER (WHERE job_status = 'success' AND age_seconds <= 2592000) AS successes_30d,
           COUNT(*) FILTER (WHERE failed AND age_seconds <= 2592000) AS failures_30d,
           SUM(rows_synced) FILTER (WHERE age_seconds <= 2592000) AS rows_synced_30d,
           SUM(rows_failed_with_errors) FILTER (WHERE age_seconds <= 2592000) AS rows_failed_30d,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_seconds)
               FILTER (WHERE duration_seconds IS NOT NULL AND age_seconds <= 2592000) AS p50_duration_seconds,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_seconds)
               FILTER (WHERE duration_seconds IS NOT NULL AND age_seconds <= 2592000) AS p95_duration_seconds,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY gap_seconds)
               FILTER (WHERE gap_seconds IS NOT NULL) AS typical_interval_seconds
    FROM syncs
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
facts AS (
    SELECT ids.integration_id,
           i.integration_name,
           i.integration_status,
           l.sync_start_time AS last_sync_start_time,
           l.job_status AS last_job_status,
           st.last_success_time,
           CAST(COALESCE(k.consecutive_failures, 0) AS BIGINT) AS consecutive_failures,
           k.failing_since,
           CAST(st.successes_7d AS DOUBLE PRECISION) / NULLIF(st.finished_7d, 0) AS success_rate_7d,
           CAST(st.successes_30d AS DOUBLE PRECISION) / NULLIF(st.finished_30d, 0) AS success_rate_30d,
           CAST(st.p50_duration_seconds AS DOUBLE PRECISION) AS p50_duration_seconds,
           CAST(st.p95_duration_seconds AS DOUBLE PRECISION) AS p95_duration_seconds,
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
           CAST(st.typical_interval_seconds AS DOUBLE PRECISION) AS typical_interval_seconds,
           CAST({stale_after_seconds} AS DOUBLE PRECISION) AS stale_after_seconds,
           w.last_timestamp_synced,
           wr.watermark_since,
           CAST(COALESCE(w.first_moved_recency - 1, w.loaded_syncs) - 1 AS BIGINT) AS syncs_since_watermark_moved,
           COALESCE(w.last_timestamp_synced > CURRENT_TIMESTAMP + INTERVAL '{watermark_future_seconds} seconds', FALSE)
               AS watermark_in_future
    FROM ids
    LEFT JOIN {integrations} AS i ON i.integration_id = ids.integration_id
    LEFT JOIN stats AS st ON st.integration_id = ids.integration_id
    LEFT JOIN finished_stats AS fs ON fs.integration_id = ids.integration_id
    LEFT JOIN streak AS k ON k.integration_id = ids.integration_id
    LEFT JOIN latest AS l ON l.integration_id = ids.integration_id
    LEFT JOIN latest_finished AS lf ON lf.integration_id = ids.integration_id
    LEFT JOIN watermark AS w ON w.integration_id = ids.integration_id
    LEFT JOIN watermark_run AS wr ON wr.integration_id = ids.integration_id
)
SELECT f.*,
       COALESCE(f.syncs_since_watermark_moved >= {watermark_stall_syncs}, FALSE) AS watermark_stalled,
       CASE
           WHEN f.last_job_status = 'running' AND f.running_seconds > {stuck_after_seconds} THEN 'stuck'
           WHEN f.syncs = 0 THEN 'unknown'
           WHEN f.consecutive_failures >= {failing_after_failures} THEN 'failing'
           WHEN COALESCE(f.last_job_status, '') <> 'running' AND f.seconds_since_last_sync > f.stale_after_seconds
                AND COALESCE(LOWER(f.integration_status), '') <> 'paused'
               THEN 'stale'
           WHEN f.finished_syncs = 0 THEN 'unknown'
           WHEN f.consecutive_failures >= 1
               OR f.success_rate_7d < {degraded_below_success_rate}
               OR f.watermark_in_future
               OR f.syncs_since_watermark_moved >= {watermark_stall_syncs}
               THEN 'degraded'
           ELSE 'healthy'
       END AS health
FROM facts AS f
