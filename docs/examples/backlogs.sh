#!/usr/bin/env bash
# Per-agent backlogs end to end (seed 001): fill two agents' backlogs, let an agent
# claim its most urgent task, complete, block and unblock tasks, read the summary
# and the cross-agent view, reopen a finished task and delete one.
#
# Run it against a server:
#
#   taskloom serve &
#   TASKLOOM_URL=http://127.0.0.1:8420 bash docs/examples/backlogs.sh
#
# Tokens come from `taskloom token`, which needs the server's secret: run this
# where the server's data folder is (or with TASKLOOM_JWT_SECRET set).
set -euo pipefail

BASE="${TASKLOOM_URL:-http://127.0.0.1:8420}"

# Every call fails the script on an HTTP error and prints the answer.
curl() { command curl -sS --fail-with-body "$@"; echo; }
# The first "id" in a JSON answer (a backlog task starts with it).
first_id() { grep -o '"id":"[^"]*"' | head -n 1 | cut -d '"' -f 4; }

ADMIN="Authorization: Bearer $(taskloom token --sub ops-lead --role admin)"
AGENT="Authorization: Bearer $(taskloom token --sub marketing-lead --kind agent_session --role agent)"
JSON="Content-Type: application/json"

echo "== add tasks to two backlogs (ids come from the agent id: marketing-lead -> MKT, support-bot -> SUP)"
POSTS="$(curl -X POST "$BASE/api/backlogs/marketing-lead" -H "$ADMIN" -H "$JSON" \
  -d '{"title": "Write 3 LinkedIn posts", "description": "Focus on ROI...", "priority": 3}' | first_id)"
AUDIT="$(curl -X POST "$BASE/api/backlogs/marketing-lead" -H "$ADMIN" -H "$JSON" \
  -d '{"title": "Audit competitor pricing pages", "description": "Compare top 5 competitors..."}' | first_id)"
curl -X POST "$BASE/api/backlogs/support-bot" -H "$ADMIN" -H "$JSON" \
  -d '{"title": "Draft FAQ responses", "priority": 2}'
echo "created $POSTS and $AUDIT"

echo "== the backlog, most urgent first; then only what is queued"
curl "$BASE/api/backlogs/marketing-lead" -H "$ADMIN"
curl "$BASE/api/backlogs/marketing-lead?status=queued" -H "$ADMIN"

echo "== the agent claims its next task through the runtime API: priority 3 comes before 5"
curl -X POST "$BASE/api/agent/tasks/claim-next" -H "$AGENT" -H "$JSON" -d '{}' | grep -q "\"id\":\"$POSTS\""
curl "$BASE/api/backlogs/marketing-lead?status=in_progress" -H "$ADMIN"

echo "== mark it complete with a result"
curl -X PATCH "$BASE/api/backlogs/marketing-lead/$POSTS" -H "$ADMIN" -H "$JSON" \
  -d '{"status": "complete", "result": "Generated 3 LinkedIn posts..."}'

echo "== block the other one (a blocker reason is required), then unblock it"
curl -X PATCH "$BASE/api/backlogs/marketing-lead/$AUDIT" -H "$ADMIN" -H "$JSON" \
  -d '{"status": "blocked", "blocker": "Waiting for the pricing spreadsheet"}'
curl "$BASE/api/backlogs/marketing-lead/summary" -H "$ADMIN"
curl -X PATCH "$BASE/api/backlogs/marketing-lead/$AUDIT" -H "$ADMIN" -H "$JSON" \
  -d '{"status": "queued", "priority": 4}'

echo "== a complete task only changes status through an explicit reopen (409 otherwise)"
code="$(command curl -sS -o /dev/null -w '%{http_code}' -X PATCH "$BASE/api/backlogs/marketing-lead/$POSTS" \
  -H "$ADMIN" -H "$JSON" -d '{"status": "queued"}')"
echo "PATCH status=queued on a complete task -> $code"
test "$code" = 409
curl -X PATCH "$BASE/api/backlogs/marketing-lead/$POSTS" -H "$ADMIN" -H "$JSON" \
  -d '{"status": "queued", "reopen": true}'

echo "== across all agents: everything, then filtered"
curl "$BASE/api/backlogs" -H "$ADMIN"
curl "$BASE/api/backlogs?status=queued&priority=2" -H "$ADMIN"
curl "$BASE/api/backlogs?agent_id=marketing-lead&limit=10&offset=0" -H "$ADMIN"

echo "== the same task through the runtime API"
curl "$BASE/api/tasks/$AUDIT/timeline" -H "$ADMIN" > /dev/null

echo "== delete a task (its id is never handed out again)"
curl -X DELETE "$BASE/api/backlogs/marketing-lead/$AUDIT" -H "$ADMIN"

echo "== choose a prefix for a new agent"
curl -X PUT "$BASE/api/backlogs/growth-hacker/prefix" -H "$ADMIN" -H "$JSON" -d '{"prefix": "GRO"}'
curl -X POST "$BASE/api/backlogs/growth-hacker" -H "$ADMIN" -H "$JSON" -d '{"title": "Plan the launch"}'

echo "== final summary"
curl "$BASE/api/backlogs/marketing-lead/summary" -H "$ADMIN"
