-- daily_sync_summary: per integration and UTC day of sync_start_time.
-- The day is computed in UTC explicitly so DuckDB and PostgreSQL agree whatever the session time zone.
-- failures = error + config_error; other statuses (e.g. an undocumented "limit_exceeded") count only in syncs.
-- avg_duration_seconds averages finished syncs (any status); running syncs have no duration.
SELECT s.integration_id,
       CAST((s.sync_start_time AT TIME ZONE 'UTC') AS DATE) AS day,
       CAST(COUNT(*) AS BIGINT) AS syncs,
       CAST(COUNT(*) FILTER (WHERE s.job_status = 'success') AS BIGINT) AS successes,
       CAST(COUNT(*) FILTER (WHERE s.job_status = 'partial') AS BIGINT) AS partials,
       CAST(COUNT(*) FILTER (WHERE s.job_status IN ('error', 'config_error')) AS BIGINT) AS failures,
       CAST(COUNT(*) FILTER (WHERE s.job_status = 'running') AS BIGINT) AS running,
       CAST(COALESCE(SUM(s.rows_synced), 0) AS BIGINT) AS rows_synced,
       CAST(COALESCE(SUM(s.rows_failed_with_errors), 0) AS BIGINT) AS rows_failed_with_errors,
       AVG(CAST(EXTRACT(EPOCH FROM (s.sync_finish_time - s.sync_start_time)) AS DOUBLE PRECISION)) AS avg_duration_seconds
FROM {job_sync_status} AS s
GROUP BY s.integration_id, CAST((s.sync_start_time AT TIME ZONE 'UTC') AS DATE)
