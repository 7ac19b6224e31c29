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
  timeout_at = COALESCE(CAST(items.timeout_at AS REAL), runs.timeout_at) /*session*/
FROM items
WHERE runs.id = items.id AND runs.status = 'queued'
RETURNING id, task_id, attempt, status, workspace_id, network_channel, claim_token_hash,
  claimed_by_kind, claimed_by_ref, claimed_at, queued_at, heartbeat_at, lease_until, ended_at,
  session_id, error, channel_activity_at, started_at, available_at, idempotency_key, metadata,
  origin_kind, origin_ref, result, timeout_at
