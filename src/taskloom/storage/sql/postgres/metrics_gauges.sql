-- The single-value gauges of /metrics, in one statement: live runs silent since :stuck,
-- approvals waiting on open tasks, tasks waiting for input, and the usage totals.
SELECT
  (SELECT COUNT(*) FROM runs WHERE status IN ('claimed', 'starting', 'running')
     AND COALESCE(heartbeat_at, claimed_at) < :stuck) AS stuck,
  (SELECT COUNT(*) FROM tasks WHERE approval_state = 'pending'
     AND status NOT IN ('completed', 'failed', 'canceled')) AS approvals,
  (SELECT COUNT(*) FROM tasks WHERE status = 'blocked' AND blocked_reason = 'awaiting_input') AS awaiting,
  (SELECT COALESCE(SUM(input_tokens), 0) FROM usage_rollup) AS input_tokens,
  (SELECT COALESCE(SUM(output_tokens), 0) FROM usage_rollup) AS output_tokens,
  (SELECT COALESCE(SUM(cost), 0) FROM usage_rollup) AS cost
