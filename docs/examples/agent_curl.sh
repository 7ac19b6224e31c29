#!/usr/bin/env bash
# An agent in plain curl: create a task, claim it, heartbeat, complete, read the result.
# Needs: a running server (make serve) and TASKLOOM (its URL, default http://127.0.0.1:8420).
# TOKEN is an admin or member token; AGENT_TOKEN an agent's token, e.g.:
#   TOKEN=$(taskloom token --sub alice --role member)
#   AGENT_TOKEN=$(taskloom token --sub agent-1 --kind agent_session --role agent)
set -euo pipefail
TASKLOOM=${TASKLOOM:-http://127.0.0.1:8420}
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

# 1. A person creates a task on the "research" channel.
TASK_ID=$(curl -sf -X POST "$TASKLOOM/api/tasks" \
  -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \
  -d '{"title": "Summarise the Q3 incident reports", "priority": "high", "network_channel": "research",
       "metadata": {"folder": "incidents/q3"}}' | json '["task"]["id"]')
echo "created $TASK_ID"

# 2. The agent claims the next task on its channel (waiting up to 10 s if none is ready).
CLAIM=$(curl -sf -X POST "$TASKLOOM/api/agent/tasks/claim-next" \
  -H "Authorization: Bearer $AGENT_TOKEN" -H "Content-Type: application/json" \
  -d '{"network_channel": "research", "lease_seconds": 60, "wait_seconds": 10}')
RUN_ID=$(echo "$CLAIM" | json '["claim"]["run"]["id"]')
CLAIM_TOKEN=$(echo "$CLAIM" | json '["claim"]["claim_token"]')
echo "claimed run $RUN_ID"

# 3. While working, it heartbeats to keep its lease (and reports usage so far).
curl -sf -X POST "$TASKLOOM/api/agent/tasks/$RUN_ID/heartbeat" \
  -H "Authorization: Bearer $AGENT_TOKEN" -H "Content-Type: application/json" \
  -d '{"lease_seconds": 60, "input_tokens": 1200, "progress": "read 4 of 9 reports"}' > /dev/null

# 4. It completes with a result; the claim token fences off a stale copy of this agent.
curl -sf -X POST "$TASKLOOM/api/agent/tasks/$RUN_ID/complete" \
  -H "Authorization: Bearer $AGENT_TOKEN" -H "Content-Type: application/json" \
  -d "{\"result\": {\"summary\": \"3 outages, 2 from one expired certificate\"},
       \"idempotency_key\": \"done-$RUN_ID\", \"claim_token\": \"$CLAIM_TOKEN\",
       \"input_tokens\": 2400, \"output_tokens\": 310}" > /dev/null

# 5. Anyone can read the outcome.
STATUS=$(curl -sf "$TASKLOOM/api/tasks/$TASK_ID" -H "Authorization: Bearer $TOKEN" | json '["task"]["task"]["status"]')
echo "task $TASK_ID is $STATUS"
test "$STATUS" = completed
