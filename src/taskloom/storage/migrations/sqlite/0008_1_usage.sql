-- Usage by agent and model (issue 16): the model and provider a run reported, one row per run
-- that reported usage (its running totals), and a roll-up of those rows per day and dimension,
-- kept in step with every report so GET /api/observe/usage never sums the runs table.
-- Missing dimensions are stored as '' (they are part of the roll-up's key).
ALTER TABLE runs ADD COLUMN model TEXT;
ALTER TABLE runs ADD COLUMN provider TEXT;

CREATE TABLE run_usage (
    run_id TEXT PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
    at REAL NOT NULL,
    day TEXT NOT NULL,
    agent TEXT NOT NULL,
    model TEXT NOT NULL,
    channel TEXT NOT NULL,
    workspace TEXT NOT NULL,
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    cost REAL NOT NULL DEFAULT 0,
    tool_calls INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX run_usage_at ON run_usage (at);

CREATE TABLE usage_rollup (
    day TEXT NOT NULL,
    agent TEXT NOT NULL,
    model TEXT NOT NULL,
    channel TEXT NOT NULL,
    workspace TEXT NOT NULL,
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    cost REAL NOT NULL DEFAULT 0,
    tool_calls INTEGER NOT NULL DEFAULT 0,
    runs INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, agent, model, channel, workspace)
) WITHOUT ROWID;

-- Runs that reported usage before this migration.
INSERT INTO run_usage (run_id, at, day, agent, model, channel, workspace, input_tokens, output_tokens, cost, tool_calls)
SELECT id, COALESCE(claimed_at, queued_at), strftime('%Y-%m-%d', COALESCE(claimed_at, queued_at), 'unixepoch'),
       COALESCE(claimed_by_ref, ''), '', COALESCE(network_channel, ''), COALESCE(workspace_id, ''),
       input_tokens, output_tokens, total_cost, tool_call_count
FROM runs WHERE input_tokens > 0 OR output_tokens > 0 OR total_cost > 0 OR tool_call_count > 0;

INSERT INTO usage_rollup (day, agent, model, channel, workspace, input_tokens, output_tokens, cost, tool_calls, runs)
SELECT day, agent, model, channel, workspace, SUM(input_tokens), SUM(output_tokens), SUM(cost), SUM(tool_calls), COUNT(*)
FROM run_usage GROUP BY day, agent, model, channel, workspace;
