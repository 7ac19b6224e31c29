-- Revocable API keys (issue #12). Only the SHA-256 of a key is kept; ``prefix`` is the
-- first characters, shown in lists so people can tell keys apart.
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    sub TEXT NOT NULL,
    kind TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin','member','agent')),
    workspaces TEXT,
    channels TEXT,
    created_by_kind TEXT NOT NULL,
    created_by_ref TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    expires_at DOUBLE PRECISION,
    revoked_at DOUBLE PRECISION,
    last_used_at DOUBLE PRECISION
);
