-- integration_health: the public one-row-per-integration view (its columns are a public contract: docs/analyze.md, "Views").
-- Everything is computed in integration_health_details (inlined, so neither view depends on the other):
-- this selects the contract's columns.
SELECT d.integration_id,
       d.integration_name,
       d.last_sync_start_time,
       d.last_job_status,
       d.last_success_time,
       d.consecutive_failures,
       d.success_rate_7d,
       d.success_rate_30d,
       d.p50_duration_seconds,
       d.p95_duration_seconds,
       d.health,
       d.integration_label
FROM integration_health_details AS d
