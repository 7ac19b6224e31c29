-- Complete a run and close its task in one statement (PostgreSQL only: a data-modifying CTE):
-- the guarded, fenced run update (slot complete: named statement complete), its task moved with
-- its event (slot task_step: named statement task_step), and the tasks that depend on it.
-- Answers one row (none when the run update was refused): the run's columns, then "|task" and
-- the task's (NULLs where it did not move), then "|dependents" and their ids.
WITH taking AS (/*complete*/),
/*task_step*/
SELECT taking.*, NULL AS "|task", task.*, NULL AS "|dependents",
  ARRAY(SELECT d.task_id FROM task_dependencies d WHERE d.depends_on_task_id = task.id) AS dependents
FROM taking LEFT JOIN task ON true
