#!/usr/bin/env bash
# Per-agent backlogs end to end (seed 001): fill two agents' backlogs, let an agent
# claim its most urgent task, complete, block and unblock tasks, read the summary
# and the cross-agent view, reopen a finished task and delete one.
# Conventions (TASKLOOM_URL, tokens, unique names): see common.sh.
source "$(dirname "$0")/common.sh"

# This run's agents. Task ids come from the agent id: marketing-lead-... gets MKT-001 (MKT2-001 on
# a second run, as prefixes are unique), support-bot-... gets SUP-...
MARKETING="marketing-lead-$RUN_TAG"
SUPPORT="support-bot-$RUN_TAG"
GROWTH="growth-hacker-$RUN_TAG"
ADMIN="Authorization: Bearer $ADMIN_TOKEN"
AGENT="Authorization: Bearer $(agent_token "$MARKETING")"

echo "== add tasks to two backlogs"
POSTS="$(curl -X POST "$TASKLOOM_URL/api/backlogs/$MARKETING" -H "$ADMIN" -H "$JSON" \
  -d '{"title": "Write 3 LinkedIn posts", "description": "Focus on ROI...", "priority": 3}' | first_id)"
AUDIT="$(curl -X POST "$TASKLOOM_URL/api/backlogs/$MARKETING" -H "$ADMIN" -H "$JSON" \
  -d '{"title": "Audit competitor pricing pages", "description": "Compare top 5 competitors..."}' | first_id)"
curl -X POST "$TASKLOOM_URL/api/backlogs/$SUPPORT" -H "$ADMIN" -H "$JSON" \
  -d '{"title": "Draft FAQ responses", "priority": 2}'
echo "created $POSTS and $AUDIT"

echo "== the backlog, most urgent first; then only what is queued"
curl "$TASKLOOM_URL/api/backlogs/$MARKETING" -H "$ADMIN"
curl "$TASKLOOM_URL/api/backlogs/$MARKETING?status=queued" -H "$ADMIN"

echo "== the agent claims its next task through the runtime API: priority 3 comes before 5"
curl -X POST "$TASKLOOM_URL/api/agent/tasks/claim-next" -H "$AGENT" -H "$JSON" -d '{}' | grep -q "\"identifier\":\"$POSTS\""
curl "$TASKLOOM_URL/api/backlogs/$MARKETING?status=in_progress" -H "$ADMIN"

echo "== mark it complete with a result"
curl -X PATCH "$TASKLOOM_URL/api/backlogs/$MARKETING/$POSTS" -H "$ADMIN" -H "$JSON" \
  -d '{"status": "complete", "result": "Generated 3 LinkedIn posts..."}'

echo "== block the other one (a blocker reason is required), then unblock it"
curl -X PATCH "$TASKLOOM_URL/api/backlogs/$MARKETING/$AUDIT" -H "$ADMIN" -H "$JSON" \
  -d '{"status": "blocked", "blocker": "Waiting for the pricing spreadsheet"}'
curl "$TASKLOOM_URL/api/backlogs/$MARKETING/summary" -H "$ADMIN"
curl -X PATCH "$TASKLOOM_URL/api/backlogs/$MARKETING/$AUDIT" -H "$ADMIN" -H "$JSON" \
  -d '{"status": "queued", "priority": 4}'

echo "== a complete task only changes status through an explicit reopen (409 otherwise)"
code="$(command curl -sS -o /dev/null -w '%{http_code}' -X PATCH "$TASKLOOM_URL/api/backlogs/$MARKETING/$POSTS" \
  -H "$ADMIN" -H "$JSON" -d '{"status": "queued"}')"
echo "PATCH status=queued on a complete task -> $code"
test "$code" = 409
curl -X PATCH "$TASKLOOM_URL/api/backlogs/$MARKETING/$POSTS" -H "$ADMIN" -H "$JSON" \
  -d '{"status": "queued", "reopen": true}'

echo "== across all agents: everything, then filtered"
curl "$TASKLOOM_URL/api/backlogs" -H "$ADMIN"
curl "$TASKLOOM_URL/api/backlogs?status=queued&priority=2" -H "$ADMIN"
curl "$TASKLOOM_URL/api/backlogs?agent_id=$MARKETING&limit=10&offset=0" -H "$ADMIN"

echo "== the same task through the runtime API"
curl "$TASKLOOM_URL/api/tasks/$AUDIT/timeline" -H "$ADMIN" > /dev/null

echo "== delete a task (its id is never handed out again)"
curl -X DELETE "$TASKLOOM_URL/api/backlogs/$MARKETING/$AUDIT" -H "$ADMIN"

echo "== choose a prefix for a new agent"
curl -X PUT "$TASKLOOM_URL/api/backlogs/$GROWTH/prefix" -H "$ADMIN" -H "$JSON" -d "{\"prefix\": \"G${RUN_TAG: -8}\"}"
curl -X POST "$TASKLOOM_URL/api/backlogs/$GROWTH" -H "$ADMIN" -H "$JSON" -d '{"title": "Plan the launch"}'

echo "== final summary"
curl "$TASKLOOM_URL/api/backlogs/$MARKETING/summary" -H "$ADMIN"
