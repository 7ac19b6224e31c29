#!/usr/bin/env bash
# Work queues end to end (seed 000): create two queues of one team, add tasks,
# let one agent dequeue and an idle agent steal, then complete (and fail) them.
#
# The curl commands are the seed's, verbatim, except that the base URL, the ids, the
# deadline and the names (unique per run) are real.
# Conventions (TASKLOOM_URL, tokens, unique names): see common.sh.
source "$(dirname "$0")/common.sh"
BASE="$TASKLOOM_URL"
TEAM="engineering-$RUN_TAG"
# An ISO 8601 deadline a day from now (GNU date, then BSD date).
DEADLINE="$(date -u -d '+1 day' +%Y-%m-%dT%H:%M:%S.000Z 2>/dev/null || date -u -v+1d +%Y-%m-%dT%H:%M:%S.000Z)"

LEAD_TOKEN="$ADMIN_TOKEN"
TRIAGE_TOKEN="$(agent_token triage-agent)"
IDLE_TOKEN="$(agent_token idle-agent)"

echo "== the team lead creates two queues of team $TEAM and adds three tasks"
JWT_TOKEN="$LEAD_TOKEN"
# Create a work queue
QUEUE_ID="$(curl -X POST "$BASE/work-queues" \
-H "Authorization: Bearer ${JWT_TOKEN}" \
-H "Content-Type: application/json" \
-d '{ "name": "bug-triage", "teamId": "'"$TEAM"'" }' | tee /dev/stderr | first_id)"
IDLE_QUEUE_ID="$(curl -X POST "$BASE/work-queues" \
-H "Authorization: Bearer ${JWT_TOKEN}" \
-H "Content-Type: application/json" \
-d '{ "name": "docs-fixes", "teamId": "'"$TEAM"'" }' | tee /dev/stderr | first_id)"

# Add a task to the queue
curl -X POST "$BASE/work-queues/${QUEUE_ID}/tasks" \
-H "Authorization: Bearer ${JWT_TOKEN}" \
-H "Content-Type: application/json" \
-d '{
"name": "Investigate login timeout on mobile",
"priority": 4,
"payload": { "ticketId": "T-4821" },
"deadline": "'"${DEADLINE}"'"
}'
curl -X POST "$BASE/work-queues/${QUEUE_ID}/tasks" \
-H "Authorization: Bearer ${JWT_TOKEN}" \
-H "Content-Type: application/json" \
-d '{ "name": "Crash when uploading a 0-byte avatar", "priority": 3, "payload": { "ticketId": "T-4822" } }'
curl -X POST "$BASE/work-queues/${QUEUE_ID}/tasks" \
-H "Authorization: Bearer ${JWT_TOKEN}" \
-H "Content-Type: application/json" \
-d '{ "name": "Typo on the pricing page", "priority": 1, "maxAttempts": 1 }'

echo "== triage-agent dequeues the most urgent task of its queue"
JWT_TOKEN="$TRIAGE_TOKEN"
# Dequeue the next task (assigns to agent)
TASK_ID="$(curl -X POST "$BASE/work-queues/${QUEUE_ID}/dequeue" \
-H "Authorization: Bearer ${JWT_TOKEN}" \
-H "Content-Type: application/json" \
-d '{ "agentId": "triage-agent" }' | tee /dev/stderr | first_id)"

echo "== idle-agent's queue is empty, so it steals from the busiest other queue of the team"
JWT_TOKEN="$IDLE_TOKEN"
status="$(command curl -sS -o /dev/null -w '%{http_code}' -X POST "$BASE/work-queues/${IDLE_QUEUE_ID}/dequeue" \
-H "Authorization: Bearer ${JWT_TOKEN}" -H "Content-Type: application/json" -d '{ "agentId": "idle-agent" }')"
echo "dequeue from its own queue: HTTP $status (nothing there)"
# Work stealing (take task from another queue)
STOLEN_ID="$(curl -X POST "$BASE/work-queues/${IDLE_QUEUE_ID}/steal" \
-H "Authorization: Bearer ${JWT_TOKEN}" \
-H "Content-Type: application/json" \
-d '{ "agentId": "idle-agent" }' | tee /dev/stderr | first_id)"

echo "== triage-agent completes its task"
JWT_TOKEN="$TRIAGE_TOKEN"
# Complete a task
curl -X POST "$BASE/work-queue-tasks/${TASK_ID}/complete" \
-H "Authorization: Bearer ${JWT_TOKEN}" \
-H "Content-Type: application/json" \
-d '{ "result": { "rootCause": "Session cookie SameSite attribute", "fix": "PR #312" } }'

echo "== idle-agent extends its lease, then fails the stolen task (it will be retried)"
JWT_TOKEN="$IDLE_TOKEN"
curl -X POST "$BASE/work-queue-tasks/${STOLEN_ID}/heartbeat" \
-H "Authorization: Bearer ${JWT_TOKEN}" \
-H "Content-Type: application/json" \
-d '{ "leaseSeconds": 600 }'
# Fail a task
curl -X POST "$BASE/work-queue-tasks/${STOLEN_ID}/fail" \
-H "Authorization: Bearer ${JWT_TOKEN}" \
-H "Content-Type: application/json" \
-d '{ "error": "Unable to reproduce on staging" }'

echo "== the queues now"
JWT_TOKEN="$LEAD_TOKEN"
curl "$BASE/work-queues/${QUEUE_ID}" -H "Authorization: Bearer ${JWT_TOKEN}"
curl "$BASE/work-queues/${IDLE_QUEUE_ID}/tasks?status=pending" -H "Authorization: Bearer ${JWT_TOKEN}"
curl "$BASE/work-queues?teamId=$TEAM" -H "Authorization: Bearer ${JWT_TOKEN}"
echo "example finished"
