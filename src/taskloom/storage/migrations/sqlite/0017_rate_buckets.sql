-- The per-caller rate limit's token buckets (TASKLOOM_RATE_LIMIT_PER_SECOND), shared by every
-- server process on this database: a caller's limit holds across --workers N and machines.
-- caller is the SHA-256 (hex) of the token or API key as sent; tokens is what was left at touched_at
-- (epoch seconds); the bucket refills from there at the configured rate.
CREATE TABLE rate_buckets (
    caller TEXT PRIMARY KEY,
    tokens REAL NOT NULL,
    touched_at REAL NOT NULL
);
CREATE INDEX rate_buckets_at ON rate_buckets (touched_at);
