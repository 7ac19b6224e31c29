-- Fail many live runs in one guarded UPDATE (fail-batch), as complete_batch completes them. Slot
-- /*items*/ is the rows (id, error, terminal_key, token_hash), one per item. An item's token_hash,
-- when given, must be its run's current one. Slot /*fence*/ adds the caller's checks (holder,
-- workspaces). The runs not returned were refused: each is then read to say why. RETURNING: what
-- the answer (a lease), settling the task (task_id, attempt) and the commit hooks read.
WITH items(id, error, terminal_key, token_hash) AS (/*items*/)
UPDATE runs SET
  status = 'failed', ended_at = :now, error = items.error, terminal_key = items.terminal_key,
  last_event_type = 'run.failed', last_activity_at = :now
FROM items
WHERE runs.id = items.id AND runs.status IN ('claimed', 'starting', 'running')
  AND (items.token_hash IS NULL OR runs.claim_token_hash = items.token_hash) /*fence*/
RETURNING runs.id, runs.task_id, runs.attempt, runs.status, runs.workspace_id, runs.network_channel,
  runs.claim_token_hash, runs.claimed_by_kind, runs.claimed_by_ref, runs.claimed_at, runs.queued_at,
  runs.heartbeat_at, runs.lease_until, runs.ended_at, runs.session_id, runs.error,
  runs.channel_activity_at
