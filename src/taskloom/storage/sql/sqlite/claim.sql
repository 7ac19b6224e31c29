-- Up to :limit claimable runs, most urgent then oldest (claim-next takes 1). The caller then
-- claims each with a guarded UPDATE; SQLite's single writer makes select-then-update atomic.
-- Slots: /*index*/ an index hint, /*filters*/ the caller's filters (AND ...).
SELECT r.id, r.task_id, r.attempt, r.concurrency_key
FROM runs r /*index*/
WHERE r.status = 'queued' AND r.held = 0 AND r.available_at <= :now
  AND (r.deadline IS NULL OR r.deadline > :now)
  AND (r.assignee IS NULL OR r.assignee = :assignee)
  AND (r.concurrency_key IS NULL OR NOT EXISTS (
        SELECT 1 FROM runs a WHERE a.concurrency_key = r.concurrency_key
        AND a.status IN ('claimed', 'starting', 'running')))
  /*filters*/
ORDER BY r.priority DESC, r.queued_at, r.id
LIMIT :limit
