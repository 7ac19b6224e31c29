-- Seed 002: the agent registry, tasks submitted to agents, their messages, and the webhook outbox.
-- Timestamps are epoch seconds (DOUBLE PRECISION).
CREATE TABLE agents (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    team TEXT,
    description TEXT NOT NULL DEFAULT '',
    capabilities TEXT NOT NULL DEFAULT '[]',
    state TEXT NOT NULL CHECK (state IN ('active','paused','stopped','error')),
    state_reason TEXT,
    default_timeout_seconds DOUBLE PRECISION,
    metadata TEXT,
    created_by_kind TEXT NOT NULL,
    created_by_ref TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX agents_team ON agents (team) WHERE team IS NOT NULL;

-- Per-task delivery settings of a task submitted through /api/agents/{id}/tasks.
-- The webhook secret lives here, never in the task row other APIs render.
CREATE TABLE agent_tasks (
    task_id TEXT PRIMARY KEY REFERENCES tasks(id) ON DELETE CASCADE,
    agent_id TEXT NOT NULL,
    callback_mode TEXT NOT NULL CHECK (callback_mode IN ('poll','webhook')),
    webhook_url TEXT,
    webhook_secret TEXT,
    created_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX agent_tasks_agent ON agent_tasks (agent_id);

-- The conversation of a task: questions from its agent and messages to it, in order.
CREATE TABLE agent_messages (
    id TEXT PRIMARY KEY,
    task_id TEXT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    sequence INTEGER NOT NULL,
    run_id TEXT,
    role TEXT NOT NULL CHECK (role IN ('user','agent')),
    kind TEXT NOT NULL CHECK (kind IN ('message','question')),
    body TEXT NOT NULL,
    sender_kind TEXT NOT NULL,
    sender_ref TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    UNIQUE (task_id, sequence)
);

-- Transactional outbox: a delivery row is written in the same transaction as the
-- state change it reports, so it survives a restart and is never lost.
CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY,
    task_id TEXT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    event TEXT NOT NULL,
    url TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending','delivered','failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at DOUBLE PRECISION NOT NULL,
    locked_until DOUBLE PRECISION,
    last_status_code INTEGER,
    last_error TEXT,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    delivered_at DOUBLE PRECISION
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_task ON webhook_deliveries (task_id, created_at);

CREATE TABLE webhook_attempts (
    delivery_id TEXT NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
    attempt INTEGER NOT NULL,
    started_at DOUBLE PRECISION NOT NULL,
    duration_ms INTEGER NOT NULL,
    status_code INTEGER,
    error TEXT,
    outcome TEXT NOT NULL CHECK (outcome IN ('delivered','retry','gave_up')),
    next_attempt_at DOUBLE PRECISION,
    PRIMARY KEY (delivery_id, attempt)
);
