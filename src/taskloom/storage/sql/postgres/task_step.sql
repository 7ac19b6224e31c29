-- The task step of the combined writes claim_one and complete_close: a part of their WITH lists,
-- not a statement of its own. The task of the run in CTE "taking" (id, task_id, attempt) moved
-- (slots task_sets, guarded by task_expect) and its event appended with the task's new
-- sequence; the payload is {"attempt": <the run's attempt>, ...}, its rest in :ev_payload_rest.
task AS (
  UPDATE tasks SET /*task_sets*/, event_seq = event_seq + 1
  -- (status || ''): found by its id, never through the status index, which the planner took
  -- when the statistics said few tasks are ready (a scan of every ready task per claim).
  WHERE id = (SELECT task_id FROM taking) AND (status || '') IN /*task_expect*/
  RETURNING *
),
event AS (
  INSERT INTO events (task_id, sequence, run_id, event_type, actor_kind, actor_ref, origin_kind, origin_ref,
                      payload, created_at)
  SELECT task.id, task.event_seq, taking.id, :ev_type, :ev_actor_kind, :ev_actor_ref, :ev_origin_kind,
         :ev_origin_ref, '{"attempt":' || taking.attempt || :ev_payload_rest, :ev_created_at
  FROM task, taking
)
