-- The same report's signed sums (and :runs) on its (agent, day) roll-up row (usage_rollup_agent_day).
INSERT INTO usage_rollup_agent_day (agent, day, input_tokens, output_tokens, cost, tool_calls, runs)
VALUES (:agent, :day, :input_tokens, :output_tokens, :cost, :tool_calls, :runs)
ON CONFLICT (agent, day) DO UPDATE SET
  input_tokens = usage_rollup_agent_day.input_tokens + excluded.input_tokens,
  output_tokens = usage_rollup_agent_day.output_tokens + excluded.output_tokens,
  cost = usage_rollup_agent_day.cost + excluded.cost,
  tool_calls = usage_rollup_agent_day.tool_calls + excluded.tool_calls,
  runs = usage_rollup_agent_day.runs + excluded.runs
