-- Retention (issue #12): find closed tasks by age, and let the cascading deletes of a
-- task's triage rows use an index instead of scanning the table.
CREATE INDEX tasks_closed ON tasks (closed_at, id) WHERE status IN ('completed','failed','canceled');
CREATE INDEX triage_task ON triage (task_id);
