-- A path of dependency edges from :start to :target ('a>b>c'), if there is one: adding the
-- edge target -> start would then close a cycle. The length bound stops a runaway walk.
WITH RECURSIVE walk(id, path) AS (
  SELECT :start, :start
  UNION
  SELECT d.depends_on_task_id, walk.path || '>' || d.depends_on_task_id
  FROM task_dependencies d JOIN walk ON d.task_id = walk.id
  WHERE LENGTH(walk.path) < 20000
)
SELECT path FROM walk WHERE id = :target LIMIT 1
