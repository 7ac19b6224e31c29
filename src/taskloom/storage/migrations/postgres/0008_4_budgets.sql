-- Budgets (issue 16): caps on what agents spend, per workspace, agent or channel and per day,
-- month or in total. spent_* are kept in step with every usage report (never summed at a claim);
-- exhausted says the cap is reached in the period that starts at period_start.
CREATE TABLE budgets (
    id TEXT PRIMARY KEY,
    scope TEXT NOT NULL CHECK (scope IN ('workspace','agent','channel')),
    ref TEXT NOT NULL,
    period TEXT NOT NULL CHECK (period IN ('day','month','total')),
    max_tokens BIGINT,
    max_cost DOUBLE PRECISION,
    currency TEXT,
    spent_tokens BIGINT NOT NULL DEFAULT 0,
    spent_cost DOUBLE PRECISION NOT NULL DEFAULT 0,
    period_start DOUBLE PRECISION NOT NULL,
    exhausted INTEGER NOT NULL DEFAULT 0,
    exhausted_at DOUBLE PRECISION,
    created_by_kind TEXT NOT NULL,
    created_by_ref TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX budgets_ref ON budgets (scope, ref);
CREATE INDEX budgets_exhausted ON budgets (exhausted) WHERE exhausted = 1;
