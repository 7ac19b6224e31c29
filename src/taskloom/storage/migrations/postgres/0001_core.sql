-- Core schema: tasks, runs, dependencies, events, triage, counters.
-- Timestamps are epoch seconds (DOUBLE PRECISION) so both dialects compare them the same way.
CREATE TABLE tasks (
    id TEXT PRIMARY KEY,
    identifier TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL CHECK (status IN ('draft','pending','blocked','ready','in_progress','completed','failed','canceled')),
    blocked_reason TEXT CHECK (blocked_reason IN ('dependencies','approval','awaiting_input','manual')),
    blocker TEXT,
    priority INTEGER NOT NULL CHECK (priority BETWEEN 0 AND 100),
    scope TEXT NOT NULL CHECK (scope IN ('global','workspace')),
    workspace_id TEXT,
    owner_kind TEXT,
    owner_ref TEXT,
    created_by_kind TEXT NOT NULL,
    created_by_ref TEXT NOT NULL,
    origin_kind TEXT NOT NULL,
    origin_ref TEXT,
    parent_task_id TEXT REFERENCES tasks(id) ON DELETE CASCADE,
    network_channel TEXT,
    metadata TEXT,
    approval_policy TEXT NOT NULL CHECK (approval_policy IN ('none','required')),
    approval_state TEXT NOT NULL CHECK (approval_state IN ('not_required','pending','approved','rejected')),
    draft INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL CHECK (max_attempts >= 1),
    attempt_limit INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    backoff_strategy TEXT NOT NULL DEFAULT 'exponential_jitter',
    backoff_seconds DOUBLE PRECISION NOT NULL DEFAULT 1,
    deadline DOUBLE PRECISION,
    timeout_seconds DOUBLE PRECISION,
    dedupe_key TEXT,
    concurrency_key TEXT,
    required_capabilities TEXT,
    result TEXT,
    error TEXT,
    source TEXT NOT NULL DEFAULT 'runtime',
    ext TEXT,
    event_seq INTEGER NOT NULL DEFAULT 0,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    started_at DOUBLE PRECISION,
    closed_at DOUBLE PRECISION,
    last_activity_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX tasks_status ON tasks (status, created_at);
CREATE INDEX tasks_parent ON tasks (parent_task_id) WHERE parent_task_id IS NOT NULL;
CREATE INDEX tasks_owner ON tasks (owner_kind, owner_ref, status);
CREATE INDEX tasks_channel ON tasks (network_channel, status);
CREATE INDEX tasks_workspace ON tasks (workspace_id) WHERE workspace_id IS NOT NULL;
CREATE INDEX tasks_approval ON tasks (approval_state) WHERE approval_state = 'pending';

CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    task_id TEXT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    attempt INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('queued','claimed','starting','running','completed','failed','canceled')),
    held INTEGER NOT NULL DEFAULT 0,
    priority INTEGER NOT NULL,
    network_channel TEXT,
    workspace_id TEXT,
    assignee TEXT,
    concurrency_key TEXT,
    required_capabilities TEXT,
    available_at DOUBLE PRECISION NOT NULL,
    queued_at DOUBLE PRECISION NOT NULL,
    claimed_at DOUBLE PRECISION,
    started_at DOUBLE PRECISION,
    ended_at DOUBLE PRECISION,
    heartbeat_at DOUBLE PRECISION,
    lease_until DOUBLE PRECISION,
    lease_seconds DOUBLE PRECISION,
    timeout_at DOUBLE PRECISION,
    deadline DOUBLE PRECISION,
    dedupe_key TEXT,
    claimed_by_kind TEXT,
    claimed_by_ref TEXT,
    claim_token_hash TEXT,
    session_id TEXT,
    idempotency_key TEXT,
    terminal_key TEXT,
    origin_kind TEXT NOT NULL,
    origin_ref TEXT,
    metadata TEXT,
    result TEXT,
    error TEXT,
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    total_cost DOUBLE PRECISION NOT NULL DEFAULT 0,
    cost_currency TEXT,
    tool_call_count INTEGER NOT NULL DEFAULT 0,
    turn_count INTEGER NOT NULL DEFAULT 0,
    last_event_type TEXT,
    last_activity_at DOUBLE PRECISION
);
-- The claim path: only queued, unheld runs, in claim order.
CREATE INDEX runs_claimable ON runs (priority DESC, queued_at, id) WHERE status = 'queued' AND held = 0;
CREATE INDEX runs_claimable_channel ON runs (network_channel, priority DESC, queued_at, id) WHERE status = 'queued' AND held = 0;
CREATE INDEX runs_live ON runs (lease_until) WHERE status IN ('claimed','starting','running');
CREATE INDEX runs_concurrency ON runs (concurrency_key) WHERE concurrency_key IS NOT NULL AND status IN ('claimed','starting','running');
CREATE INDEX runs_task ON runs (task_id, attempt);
CREATE INDEX runs_status ON runs (status);
CREATE INDEX runs_dedupe ON runs (dedupe_key, queued_at) WHERE dedupe_key IS NOT NULL;
CREATE INDEX runs_deadline ON runs (deadline) WHERE deadline IS NOT NULL AND status = 'queued';
CREATE INDEX runs_claimed_at ON runs (claimed_at) WHERE claimed_at IS NOT NULL;

CREATE TABLE task_dependencies (
    task_id TEXT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    depends_on_task_id TEXT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    kind TEXT NOT NULL DEFAULT 'blocks',
    created_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (task_id, depends_on_task_id),
    CHECK (task_id <> depends_on_task_id)
);
CREATE INDEX deps_reverse ON task_dependencies (depends_on_task_id);

CREATE TABLE events (
    id BIGSERIAL PRIMARY KEY,
    task_id TEXT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    sequence INTEGER NOT NULL,
    run_id TEXT,
    event_type TEXT NOT NULL,
    actor_kind TEXT NOT NULL,
    actor_ref TEXT NOT NULL,
    origin_kind TEXT NOT NULL,
    origin_ref TEXT,
    payload TEXT,
    created_at DOUBLE PRECISION NOT NULL,
    UNIQUE (task_id, sequence)
);

CREATE TABLE triage (
    actor_kind TEXT NOT NULL,
    actor_ref TEXT NOT NULL,
    task_id TEXT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    read INTEGER NOT NULL DEFAULT 0,
    dismissed INTEGER NOT NULL DEFAULT 0,
    archived INTEGER NOT NULL DEFAULT 0,
    last_seen_activity_at DOUBLE PRECISION,
    updated_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (actor_kind, actor_ref, task_id)
);

CREATE SEQUENCE task_identifier_seq;

CREATE TABLE counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);

-- Singleton rows that background services use (leader leases, last tick).
CREATE TABLE service_state (
    name TEXT PRIMARY KEY,
    value TEXT,
    updated_at DOUBLE PRECISION NOT NULL
);
