-- Claim-next in one statement (PostgreSQL only: a data-modifying CTE): the best claimable run
-- (slot pick: named statement claim, LIMIT 1, locked), its task moved with its event (slot
-- task_step: named statement task_step), then the run moved (run_sets, guarded by run_expect).
-- A run with a concurrency or rate-limit key is only picked here, not taken: the caller counts
-- its key under an advisory lock (PostgresTx.runs_claim_candidates).
-- Answers one row: the pick's columns, then "|task" and the task's, then "|run" and the run's
-- (NULLs where nothing was written).
WITH pick AS (/*pick*/),
taking AS (SELECT * FROM pick WHERE concurrency_key IS NULL AND rate_limit_key IS NULL),
/*task_step*/,
run AS (
  UPDATE runs SET /*run_sets*/,
    timeout_at = COALESCE((SELECT :timeout_base + task.timeout_seconds FROM task WHERE task.timeout_seconds <> 0),
                          timeout_at)
  WHERE id = (SELECT id FROM taking) AND EXISTS (SELECT 1 FROM task) AND (status || '') IN /*run_expect*/  -- by id, as in task_step
  RETURNING *
)
SELECT pick.*, NULL AS "|task", task.*, NULL AS "|run", run.*
FROM pick LEFT JOIN task ON true LEFT JOIN run ON true
