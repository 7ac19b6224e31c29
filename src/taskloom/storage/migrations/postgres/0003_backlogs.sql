-- Per-agent backlogs (seed 001): each agent's id prefix, and indexes for the backlog views.
-- A backlog is the set of tasks owned by an agent (owner_kind = 'agent_session').

-- The agent's current prefix. Created by its first backlog task or an explicit PUT .../prefix.
CREATE TABLE backlog_agents (
    agent_id TEXT PRIMARY KEY,
    prefix TEXT NOT NULL UNIQUE,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL
);

-- Every prefix an agent ever used stays reserved to it, so an id like MKT-001
-- can never be minted twice, even after the agent switches prefix.
CREATE TABLE backlog_prefixes (
    prefix TEXT PRIMARY KEY,
    agent_id TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX backlog_prefixes_agent ON backlog_prefixes (agent_id);

-- Backlog views read only agent-owned, non-draft tasks, in priority-then-age order.
-- The queries repeat this WHERE clause literally so SQLite can use the partial indexes.
-- Each index also carries status and owner_kind, so a page is chosen from the index
-- alone (no table look-ups while counting or skipping rows); only its rows are read.
CREATE INDEX tasks_backlog_order ON tasks (priority DESC, created_at, id, status, owner_kind)
    WHERE owner_kind = 'agent_session' AND status <> 'draft';
CREATE INDEX tasks_backlog_status ON tasks (status, priority DESC, created_at, id, owner_kind)
    WHERE owner_kind = 'agent_session' AND status <> 'draft';
CREATE INDEX tasks_backlog_agent ON tasks (owner_ref, priority DESC, created_at, id, status, owner_kind)
    WHERE owner_kind = 'agent_session' AND status <> 'draft';
CREATE INDEX tasks_backlog_agent_status ON tasks (owner_ref, status, priority DESC, created_at, id, owner_kind)
    WHERE owner_kind = 'agent_session' AND status <> 'draft';
