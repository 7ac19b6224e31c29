-- Scheduled tasks (seed 003): one row per scheduled task, keyed by the core task id.
-- Timestamps are epoch seconds. A firing is claimed by a guarded update of next_run_at.
CREATE TABLE schedules (
    task_id TEXT PRIMARY KEY REFERENCES tasks(id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('cron','rrule','once','event')),
    expr TEXT,
    timezone TEXT NOT NULL DEFAULT 'UTC',
    status TEXT NOT NULL CHECK (status IN ('active','paused','canceled')),
    created_by TEXT NOT NULL,
    anchor DOUBLE PRECISION NOT NULL,
    next_run_at DOUBLE PRECISION,
    snoozed_until DOUBLE PRECISION,
    snooze_reason TEXT,
    dedupe_window_seconds DOUBLE PRECISION,
    waiting TEXT,
    waiting_since DOUBLE PRECISION,
    last_fired_at DOUBLE PRECISION,
    fire_count INTEGER NOT NULL DEFAULT 0,
    missed_count INTEGER NOT NULL DEFAULT 0,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX schedules_due ON schedules (next_run_at) WHERE status = 'active' AND next_run_at IS NOT NULL;
CREATE INDEX schedules_waiting ON schedules (waiting_since) WHERE waiting_since IS NOT NULL;
CREATE INDEX schedules_events ON schedules (kind, status) WHERE kind = 'event';
CREATE INDEX schedules_list ON schedules (created_at, task_id);
CREATE INDEX schedules_created_by ON schedules (created_by, created_at)
