-- Work queues (seed 000). A queue's id is the network_channel of its tasks' rows,
-- so queue tasks are ordinary core tasks and runs; this table only names queues.
CREATE TABLE work_queues (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    team_id TEXT NOT NULL,
    created_by_kind TEXT NOT NULL,
    created_by_ref TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    UNIQUE (team_id, name)
);
CREATE INDEX work_queues_team ON work_queues (team_id, created_at);
