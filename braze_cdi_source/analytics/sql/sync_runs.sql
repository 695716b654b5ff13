-- sync_runs: one row per sync, named and timed.
-- duration_seconds is NULL while a sync is running (no finish time yet).
-- integration_label: the name, with the id's first block where two integrations share a name (as the report
-- shows them), or the id where there is no name.
WITH labels AS (
    SELECT integration_id,
           INTEGRATION_LABEL(integration_id, integration_name,
                             COUNT(*) OVER (PARTITION BY COALESCE(integration_name, ''))) AS integration_label
    FROM integrations
)
SELECT s.integration_id,
       i.integration_name,
       s.job_status,
       s.sync_start_time,
       s.sync_finish_time,
       SECONDS_BETWEEN(s.sync_start_time, s.sync_finish_time) AS duration_seconds,
       s.rows_synced,
       s.rows_failed_with_errors,
       COALESCE(l.integration_label, s.integration_id) AS integration_label
FROM job_sync_status AS s
LEFT JOIN integrations AS i ON i.integration_id = s.integration_id
LEFT JOIN labels AS l ON l.integration_id = s.integration_id
