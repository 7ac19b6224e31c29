-- Up to :limit claimable runs, most urgent then oldest (claim-next takes 1), locked for this
-- transaction; rows others hold are skipped, so concurrent claimers never wait on each other.
-- Slots: /*filters*/ the caller's filters (AND ...), /*skip*/ runs already refused.
SELECT r.id, r.task_id, r.attempt, r.concurrency_key
FROM runs r
WHERE r.status = 'queued' AND r.held = 0 AND r.available_at <= :now
  AND (r.deadline IS NULL OR r.deadline > :now)
  AND (r.assignee IS NULL OR r.assignee = :assignee)
  AND (r.concurrency_key IS NULL OR NOT EXISTS (
        SELECT 1 FROM runs a WHERE a.concurrency_key = r.concurrency_key
        AND a.status IN ('claimed', 'starting', 'running')))
  /*filters*/ /*skip*/
ORDER BY r.priority DESC, r.queued_at, r.id
LIMIT :limit
FOR UPDATE SKIP LOCKED
