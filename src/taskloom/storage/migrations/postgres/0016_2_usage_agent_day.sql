-- Usage by agent and day (issue 16): the roll-up's sums per (agent, day) alone, kept in step with
-- usage_rollup by the same report, so GET /api/observe/usage?group_by=agent,day (and agent, day,
-- day&agent=X) reads one row per answer group, already in order, instead of every
-- (day, agent, model, channel, workspace) row followed by a sort.
CREATE TABLE usage_rollup_agent_day (
    agent TEXT NOT NULL,
    day TEXT NOT NULL,
    input_tokens BIGINT NOT NULL DEFAULT 0,
    output_tokens BIGINT NOT NULL DEFAULT 0,
    cost DOUBLE PRECISION NOT NULL DEFAULT 0,
    tool_calls BIGINT NOT NULL DEFAULT 0,
    runs BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (agent, day)
);
CREATE INDEX usage_rollup_agent_day_day ON usage_rollup_agent_day (day);

INSERT INTO usage_rollup_agent_day (agent, day, input_tokens, output_tokens, cost, tool_calls, runs)
SELECT agent, day, SUM(input_tokens), SUM(output_tokens), SUM(cost), SUM(tool_calls), SUM(runs)
FROM usage_rollup GROUP BY agent, day;
