-- Closed tasks older than :cutoff, oldest first, that no schedule keeps; "linked" says whether
-- a parent, a child or a dependency ties them to other tasks (they go only with their group).
-- Slot /*after*/: the page's cursor (AND (closed_at, id) after the last one seen).
SELECT t.id, t.closed_at,
  (t.parent_task_id IS NOT NULL
   OR EXISTS (SELECT 1 FROM tasks c WHERE c.parent_task_id = t.id)
   OR EXISTS (SELECT 1 FROM task_dependencies d WHERE d.task_id = t.id)
   OR EXISTS (SELECT 1 FROM task_dependencies d WHERE d.depends_on_task_id = t.id)) AS linked
FROM tasks t
WHERE t.status IN ('completed', 'failed', 'canceled') AND t.closed_at < :cutoff /*after*/
  AND NOT EXISTS (SELECT 1 FROM schedules s WHERE s.task_id = t.id)
ORDER BY t.closed_at, t.id
LIMIT :limit
