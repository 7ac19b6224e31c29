-- Complete many live runs in one guarded UPDATE (complete-batch). Slot /*items*/ is the rows
-- (id, result, terminal_key, token_hash), one per item: VALUES on SQLite, one JSON parameter
-- on PostgreSQL. An item's token_hash, when given, must be its run's current one. Slot
-- /*fence*/ adds the caller's checks (holder, workspaces). The runs not returned were refused:
-- each is then read to say why. RETURNING: what the answer (a lease) and the commit hooks (metrics,
-- logs: run_transitions) read, not the whole row (SQLite builds every returned value).
WITH items(id, result, terminal_key, token_hash) AS (/*items*/)
UPDATE runs SET
  status = 'completed', ended_at = :now, result = items.result, terminal_key = items.terminal_key,
  started_at = COALESCE(runs.started_at, :now), last_event_type = 'run.completed', last_activity_at = :now
FROM items
WHERE runs.id = items.id AND runs.status IN ('claimed', 'starting', 'running')
  AND (items.token_hash IS NULL OR runs.claim_token_hash = items.token_hash) /*fence*/
RETURNING runs.id, runs.task_id, runs.attempt, runs.status, runs.workspace_id, runs.network_channel,
  runs.claim_token_hash, runs.claimed_by_kind, runs.claimed_by_ref, runs.claimed_at, runs.queued_at,
  runs.heartbeat_at, runs.lease_until, runs.ended_at, runs.session_id, runs.error,
  runs.channel_activity_at
