-- Complete a live run in one guarded UPDATE. Slot /*fence*/ adds the caller's checks
-- (holder, claim token, workspaces): no row back means refused, and only then is the
-- run read to say why. Slot /*usage*/ sets the usage figures reported with it.
UPDATE runs SET
  status = 'completed', ended_at = :now, result = :result, terminal_key = :terminal_key,
  started_at = COALESCE(started_at, :now), last_event_type = 'run.completed', last_activity_at = :now
  /*usage*/
WHERE id = :id AND status IN ('claimed', 'starting', 'running') /*fence*/
RETURNING *
