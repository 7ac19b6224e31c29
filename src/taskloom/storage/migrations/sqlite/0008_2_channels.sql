-- Coordination channels (issue 16, seed 004). Every run has one channel, derived from the run
-- (no row of its own: claims pay nothing for it); its messages live here. The conversation of
-- seed 002 (agent questions, people's answers) is the same thing, so agent_messages moves in.
-- sequence counts per task, as it did for agent_messages.
ALTER TABLE runs ADD COLUMN channel_activity_at REAL;

CREATE TABLE coordination_messages (
    id TEXT PRIMARY KEY,
    task_id TEXT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    sequence INTEGER NOT NULL,
    run_id TEXT,
    role TEXT NOT NULL CHECK (role IN ('user','agent')),
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    sender_kind TEXT NOT NULL,
    sender_ref TEXT NOT NULL,
    created_at REAL NOT NULL,
    UNIQUE (task_id, sequence)
);
CREATE INDEX coordination_messages_run ON coordination_messages (run_id, sequence);

INSERT INTO coordination_messages (id, task_id, sequence, run_id, role, kind, body, sender_kind, sender_ref, created_at)
SELECT id, task_id, sequence, run_id, role, CASE WHEN kind = 'question' THEN 'question' ELSE 'note' END, body,
       sender_kind, sender_ref, created_at
FROM agent_messages;

UPDATE runs SET channel_activity_at = (SELECT MAX(m.created_at) FROM coordination_messages m WHERE m.run_id = runs.id)
WHERE id IN (SELECT run_id FROM coordination_messages WHERE run_id IS NOT NULL);

DROP TABLE agent_messages;
