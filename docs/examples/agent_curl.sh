#!/usr/bin/env bash
# An agent in plain curl (runtime API): create a task, claim it, heartbeat, complete, read the result.
# Conventions (TASKLOOM_URL, tokens, unique names): see common.sh.
source "$(dirname "$0")/common.sh"
AGENT_TOKEN="$(agent_token agent-1)"
CHANNEL="research-$RUN_TAG"

# 1. A person creates a task on a "research" channel.
TASK_ID=$(curl -X POST "$TASKLOOM_URL/api/tasks" -H "Authorization: Bearer $ADMIN_TOKEN" -H "$JSON" \
  -d '{"title": "Summarise the Q3 incident reports", "priority": "high", "network_channel": "'"$CHANNEL"'",
       "metadata": {"folder": "incidents/q3"}}' | json '["task"]["id"]')
echo "created $TASK_ID"

# 2. The agent claims the next task on its channel (waiting up to 10 s if none is ready).
CLAIM=$(curl -X POST "$TASKLOOM_URL/api/agent/tasks/claim-next" -H "Authorization: Bearer $AGENT_TOKEN" -H "$JSON" \
  -d '{"network_channel": "'"$CHANNEL"'", "lease_seconds": 60, "wait_seconds": 10}')
RUN_ID=$(echo "$CLAIM" | json '["claim"]["run"]["id"]')
CLAIM_TOKEN=$(echo "$CLAIM" | json '["claim"]["claim_token"]')
echo "claimed run $RUN_ID"

# 3. While working, it heartbeats to keep its lease (and reports usage so far).
curl -X POST "$TASKLOOM_URL/api/agent/tasks/$RUN_ID/heartbeat" -H "Authorization: Bearer $AGENT_TOKEN" -H "$JSON" \
  -d '{"lease_seconds": 60, "input_tokens": 1200, "progress": "read 4 of 9 reports"}' > /dev/null

# 4. It completes with a result; the claim token fences off a stale copy of this agent.
curl -X POST "$TASKLOOM_URL/api/agent/tasks/$RUN_ID/complete" -H "Authorization: Bearer $AGENT_TOKEN" -H "$JSON" \
  -d "{\"result\": {\"summary\": \"3 outages, 2 from one expired certificate\"},
       \"idempotency_key\": \"done-$RUN_ID\", \"claim_token\": \"$CLAIM_TOKEN\",
       \"input_tokens\": 2400, \"output_tokens\": 310}" > /dev/null

# 5. Anyone can read the outcome.
TASK=$(curl "$TASKLOOM_URL/api/tasks/$TASK_ID" -H "Authorization: Bearer $ADMIN_TOKEN")
STATUS=$(echo "$TASK" | json '["task"]["task"]["status"]')
echo "task $TASK_ID is $STATUS: $(echo "$TASK" | json '["task"]["task"]["result"]')"
test "$STATUS" = completed
