-- daily_sync_summary: per integration and UTC day of sync_start_time.
-- UTC_DAY takes the day in UTC explicitly, so every engine agrees whatever the session time zone.
-- failures = error + config_error. Other statuses (e.g. an undocumented "limit_exceeded") count only in syncs.
-- avg_duration_seconds averages finished syncs (any status): running syncs have no duration.
-- integration_name and integration_label come last: PostgreSQL replaces a view in place only when columns are
-- added at its end.
-- integration_label: the name, with the id's first block where two integrations share a name (as the report
-- shows them), or the id where there is no name.
WITH labels AS (
    SELECT integration_id,
           integration_name,
           INTEGRATION_LABEL(integration_id, integration_name,
                             COUNT(*) OVER (PARTITION BY COALESCE(integration_name, ''))) AS integration_label
    FROM integrations
),
daily AS (
    SELECT s.integration_id,
           UTC_DAY(s.sync_start_time) AS day,
           CAST(COUNT(*) AS BIGINT) AS syncs,
           CAST(SUM(CASE WHEN s.job_status = 'success' THEN 1 ELSE 0 END) AS BIGINT) AS successes,
           CAST(SUM(CASE WHEN s.job_status = 'partial' THEN 1 ELSE 0 END) AS BIGINT) AS partials,
           CAST(SUM(CASE WHEN s.job_status IN ('error', 'config_error') THEN 1 ELSE 0 END) AS BIGINT) AS failures,
           CAST(SUM(CASE WHEN s.job_status = 'running' THEN 1 ELSE 0 END) AS BIGINT) AS running,
           CAST(COALESCE(SUM(s.rows_synced), 0) AS BIGINT) AS rows_synced,
           CAST(COALESCE(SUM(s.rows_failed_with_errors), 0) AS BIGINT) AS rows_failed_with_errors,
           CAST(AVG(SECONDS_BETWEEN(s.sync_start_time, s.sync_finish_time)) AS DOUBLE) AS avg_duration_seconds
    FROM job_sync_status AS s
    GROUP BY s.integration_id, UTC_DAY(s.sync_start_time)
)
SELECT d.*,
       l.integration_name,
       COALESCE(l.integration_label, d.integration_id) AS integration_label
FROM daily AS d
LEFT JOIN labels AS l ON l.integration_id = d.integration_id
