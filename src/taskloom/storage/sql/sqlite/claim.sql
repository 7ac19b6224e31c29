-- Up to :limit claimable runs, most urgent then oldest (claim-next takes 1). The caller then
-- claims each with a guarded UPDATE; SQLite's single writer makes select-then-update atomic.
-- A concurrency key admits concurrency_limit live runs; a rate-limit key rate_limit_per_minute
-- claims in the last 60 s (several picked together are counted again by the caller).
-- Slots: /*index*/ an index hint, /*filters*/ the caller's filters (AND ...).
SELECT r.id, r.task_id, r.attempt, r.concurrency_key, r.concurrency_limit, r.rate_limit_key, r.rate_limit_per_minute
FROM runs r /*index*/
WHERE r.status = 'queued' AND r.held = 0 AND r.available_at <= :now
  AND (r.deadline IS NULL OR r.deadline > :now)
  AND (r.assignee IS NULL OR r.assignee = :assignee)
  AND (r.concurrency_key IS NULL OR (
        SELECT COUNT(*) FROM runs a WHERE a.concurrency_key = r.concurrency_key
        AND a.status IN ('claimed', 'starting', 'running')) < r.concurrency_limit)
  AND (r.rate_limit_key IS NULL OR (
        SELECT COUNT(*) FROM runs b WHERE b.rate_limit_key = r.rate_limit_key
        AND b.claimed_at IS NOT NULL AND b.claimed_at > :now - 60) < r.rate_limit_per_minute)
  /*filters*/
ORDER BY r.priority DESC, r.queued_at, r.id
LIMIT :limit
