-- Limits per key (issue 16): concurrency_limit (default 1) beside concurrency_key admits up to N
-- live runs per key; rate_limit_key / rate_limit_per_minute admits at most N claims of that key
-- per rolling minute (counted from runs.claimed_at). Runs copy them from their task, as they
-- copy concurrency_key, so the claim reads only the runs table.
ALTER TABLE tasks ADD COLUMN concurrency_limit INTEGER NOT NULL DEFAULT 1;
ALTER TABLE tasks ADD COLUMN rate_limit_key TEXT;
ALTER TABLE tasks ADD COLUMN rate_limit_per_minute INTEGER;
ALTER TABLE runs ADD COLUMN concurrency_limit INTEGER NOT NULL DEFAULT 1;
ALTER TABLE runs ADD COLUMN rate_limit_key TEXT;
ALTER TABLE runs ADD COLUMN rate_limit_per_minute INTEGER;
CREATE INDEX runs_rate ON runs (rate_limit_key, claimed_at) WHERE rate_limit_key IS NOT NULL AND claimed_at IS NOT NULL;
