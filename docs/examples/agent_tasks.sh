#!/usr/bin/env bash
# Tasks for named agents (seed 002): register an agent, submit a task to it, let the
# agent ask a person a question (awaiting input), answer it, and read the result.
# Conventions (TASKLOOM_URL, tokens, unique names): see common.sh.
source "$(dirname "$0")/common.sh"

AGENT_ID="travel-agent-$RUN_TAG"   # an agent's id is the sub of the token it works with
ADMIN="Authorization: Bearer $ADMIN_TOKEN"
AGENT="Authorization: Bearer $(agent_token "$AGENT_ID")"

echo "== register the agent"
curl -X POST "$TASKLOOM_URL/api/agents" -H "$ADMIN" -H "$JSON" \
  -d '{"id": "'"$AGENT_ID"'", "name": "Travel agent", "team": "assistants", "capabilities": ["flights"]}'

echo "== a person submits a task to it (202 queued)"
TASK_ID=$(curl -X POST "$TASKLOOM_URL/api/agents/$AGENT_ID/tasks" -H "$ADMIN" -H "$JSON" \
  -d '{"message": "Book a flight to Lisbon\nThe cheapest direct flight next Tuesday", "priority": 2,
       "metadata": {"ticket": 7}}' | json '["task_id"]')
echo "submitted $TASK_ID"

echo "== the agent claims it with its own token"
CLAIM=$(curl -X POST "$TASKLOOM_URL/api/agent/tasks/claim-next" -H "$AGENT" -H "$JSON" \
  -d '{"lease_seconds": 60, "wait_seconds": 10}')
test "$(echo "$CLAIM" | json '["claim"]["task"]["id"]')" = "$TASK_ID"
RUN_ID=$(echo "$CLAIM" | json '["claim"]["run"]["id"]')

echo "== it asks a person; the task waits for input"
curl -X POST "$TASKLOOM_URL/api/agent/tasks/$RUN_ID/awaiting-input" -H "$AGENT" -H "$JSON" \
  -d '{"question": "Aisle or window?"}' > /dev/null
VIEW=$(curl "$TASKLOOM_URL/api/agents/$AGENT_ID/tasks/$TASK_ID" -H "$ADMIN")
echo "status: $(echo "$VIEW" | json '["status"]'), question: $(echo "$VIEW" | json '["question"]')"
test "$(echo "$VIEW" | json '["status"]')" = awaiting_input

echo "== the person answers"
curl -X POST "$TASKLOOM_URL/api/agents/$AGENT_ID/tasks/$TASK_ID/messages" -H "$ADMIN" -H "$JSON" \
  -d '{"message": "Window, please"}' > /dev/null

echo "== the agent reads the answer, keeps its lease, and completes"
ANSWER=$(curl "$TASKLOOM_URL/api/agent/tasks/$RUN_ID/messages?role=user" -H "$AGENT" | json '["messages"][-1]["message"]')
curl -X POST "$TASKLOOM_URL/api/agent/tasks/$RUN_ID/heartbeat" -H "$AGENT" -H "$JSON" \
  -d '{"progress": "booking", "input_tokens": 900, "output_tokens": 120, "model": "example-model"}' > /dev/null
curl -X POST "$TASKLOOM_URL/api/agent/tasks/$RUN_ID/complete" -H "$AGENT" -H "$JSON" \
  -d '{"result": {"flight": "TP 1351", "seat": "'"$ANSWER"'"}, "idempotency_key": "booked-'"$RUN_ID"'"}' > /dev/null

echo "== the result, and the conversation"
VIEW=$(curl "$TASKLOOM_URL/api/agents/$AGENT_ID/tasks/$TASK_ID" -H "$ADMIN")
echo "status: $(echo "$VIEW" | json '["status"]'), result: $(echo "$VIEW" | json '["result"]')"
test "$(echo "$VIEW" | json '["status"]')" = completed
curl "$TASKLOOM_URL/api/agents/$AGENT_ID/tasks/$TASK_ID/messages" -H "$ADMIN"
