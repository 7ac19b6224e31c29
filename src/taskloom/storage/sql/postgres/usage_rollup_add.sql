-- Add one report's signed sums (and :runs, 1 for a run's first report) to its day's roll-up row.
INSERT INTO usage_rollup (day, agent, model, channel, workspace, input_tokens, output_tokens, cost, tool_calls, runs)
VALUES (:day, :agent, :model, :channel, :workspace, :input_tokens, :output_tokens, :cost, :tool_calls, :runs)
ON CONFLICT (day, agent, model, channel, workspace) DO UPDATE SET
  input_tokens = usage_rollup.input_tokens + excluded.input_tokens,
  output_tokens = usage_rollup.output_tokens + excluded.output_tokens,
  cost = usage_rollup.cost + excluded.cost,
  tool_calls = usage_rollup.tool_calls + excluded.tool_calls,
  runs = usage_rollup.runs + excluded.runs
