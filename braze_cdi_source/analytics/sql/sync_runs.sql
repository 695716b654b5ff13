-- sync_runs: one row per sync, named and timed.
-- duration_seconds is NULL while a sync is running (no finish time yet).
SELECT s.integration_id,
       i.integration_name,
       s.job_status,
       s.sync_start_time,
       s.sync_finish_time,
       SECONDS_BETWEEN(s.sync_start_time, s.sync_finish_time) AS duration_seconds,
       s.rows_synced,
       s.rows_failed_with_errors
FROM job_sync_status AS s
LEFT JOIN integrations AS i ON i.integration_id = s.integration_id
