-- A task and all its descendants, each with its depth (the root is 0), parents first.
WITH RECURSIVE sub(id, depth) AS (
  SELECT id, 0 FROM tasks WHERE id = :id
  UNION ALL
  SELECT t.id, sub.depth + 1 FROM tasks t JOIN sub ON t.parent_task_id = sub.id
)
SELECT tasks.*, sub.depth AS depth
FROM sub JOIN tasks ON tasks.id = sub.id
ORDER BY sub.depth, tasks.created_at, tasks.id
