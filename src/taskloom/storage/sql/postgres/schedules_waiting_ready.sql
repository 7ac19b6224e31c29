-- Active schedules holding a waiting firing whose task has no open run any more (the
-- firing can be enqueued now). Slot /*lock*/: the dialect's skip-locked clause.
SELECT * FROM schedules s
WHERE s.waiting_since IS NOT NULL AND s.status = 'active'
  AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.task_id = s.task_id
                  AND r.status IN ('queued', 'claimed', 'starting', 'running'))
ORDER BY s.waiting_since
LIMIT :limit
/*lock*/
