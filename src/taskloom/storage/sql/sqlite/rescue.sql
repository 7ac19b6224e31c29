-- Live runs whose lease lapsed or whose timeout passed, oldest lease first: the lease
-- rescuer takes each back with a guarded UPDATE (safe in every process).
SELECT * FROM runs
WHERE status IN ('claimed', 'starting', 'running')
  AND (lease_until < :now OR (timeout_at IS NOT NULL AND timeout_at < :now))
ORDER BY lease_until
LIMIT :limit
