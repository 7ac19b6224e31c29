-- Claim many queued runs in one guarded UPDATE (claim-batch): the same lease for all, each with
-- its own claim token hash and timeout. Slot /*items*/ is the rows (id, token_hash, timeout_at):
-- VALUES on SQLite, one JSON parameter on PostgreSQL. /*session*/ sets session_id when
-- the caller gave one. A run not returned was no longer queued. RETURNING: what the answer (a
-- claim's run and lease) and the commit hooks (metrics, logs) read, not the whole row.
WITH items(id, token_hash, timeout_at) AS (/*items*/)
UPDATE runs SET
  status = 'claimed', claimed_at = :now, claimed_by_kind = :kind, claimed_by_ref = :ref,
  claim_token_hash = items.token_hash, lease_until = :lease_until, lease_seconds = :lease_seconds,
  heartbeat_at = :now, last_event_type = 'run.claimed', last_activity_at = :now,
  timeout_at = COALESCE(CAST(items.timeout_at AS double precision), runs.timeout_at) /*session*/
FROM items
WHERE runs.id = items.id AND runs.status = 'queued'
RETURNING runs.id, runs.task_id, runs.attempt, runs.status, runs.workspace_id, runs.network_channel,
  runs.claim_token_hash, runs.claimed_by_kind, runs.claimed_by_ref, runs.claimed_at, runs.queued_at,
  runs.heartbeat_at, runs.lease_until, runs.ended_at, runs.session_id, runs.error,
  runs.channel_activity_at, runs.started_at, runs.available_at, runs.idempotency_key, runs.metadata,
  runs.origin_kind, runs.origin_ref, runs.result, runs.timeout_at
