#!/usr/bin/env bash
# Scheduled tasks (seed 003): a cron schedule in a time zone, run now, an agent working
# the run, snooze / pause / resume, an event schedule fired by POST /events, cancel.
# Conventions (TASKLOOM_URL, tokens, unique names): see common.sh.
source "$(dirname "$0")/common.sh"

QUEUE="reports-$RUN_TAG"   # the network channel the runs are queued on
CREATOR="$(python3 -c 'import uuid; print(uuid.uuid4())')"   # created_by is the creating agent's UUID
ADMIN="Authorization: Bearer $ADMIN_TOKEN"
AGENT="Authorization: Bearer $(agent_token reporter)"

# The agent claims the next run on the queue and completes it; prints the claimed task's metadata.
work_one() {
  local claim run
  claim=$(curl -X POST "$TASKLOOM_URL/api/agent/tasks/claim-next" -H "$AGENT" -H "$JSON" \
    -d '{"network_channel": "'"$QUEUE"'", "lease_seconds": 60, "wait_seconds": 10}')
  run=$(echo "$claim" | json '["claim"]["run"]["id"]')
  curl -X POST "$TASKLOOM_URL/api/agent/tasks/$run/complete" -H "$AGENT" -H "$JSON" \
    -d '{"result": {"rows": 42}}' > /dev/null
  echo "$claim" | json '["claim"]["task"]["metadata"]'
}

echo "== a cron schedule: weekdays at 09:00, Lisbon time"
SCHEDULE=$(curl -X POST "$TASKLOOM_URL/tasks" -H "$ADMIN" -H "$JSON" -d '{
  "title": "Daily sales report", "description": "Summarise yesterday'"'"'s sales",
  "schedule_kind": "cron", "schedule_expr": "0 9 * * 1-5", "timezone": "Europe/Lisbon",
  "payload": {"report": "sales"}, "created_by": "'"$CREATOR"'", "queue": "'"$QUEUE"'", "max_retries": 2}')
SCHEDULE_ID=$(echo "$SCHEDULE" | json '["id"]')
echo "next firing: $(echo "$SCHEDULE" | json '["next_run_at"]')"

echo "== run it now, outside the schedule; an agent works the run"
curl -X POST "$TASKLOOM_URL/tasks/$SCHEDULE_ID/run_now" -H "$ADMIN" > /dev/null
GOT=$(work_one)
echo "the agent got: $GOT"
test "$(curl "$TASKLOOM_URL/tasks/$SCHEDULE_ID/runs" -H "$ADMIN" | json '["runs"][0]["status"]')" = completed

echo "== snooze the next firing by an hour, pause, resume"
curl -X POST "$TASKLOOM_URL/tasks/$SCHEDULE_ID/snooze" -H "$ADMIN" -H "$JSON" \
  -d '{"delay_seconds": 3600, "reason": "holiday"}' | json '["snoozed_until"]'
curl -X POST "$TASKLOOM_URL/tasks/$SCHEDULE_ID/pause" -H "$ADMIN" | json '["status"]'
curl -X POST "$TASKLOOM_URL/tasks/$SCHEDULE_ID/resume" -H "$ADMIN" | json '["status"]'

echo "== an event schedule, fired by POST /events (globs match event types)"
EVENT_TYPE="deploy-$RUN_TAG"
ON_DEPLOY=$(curl -X POST "$TASKLOOM_URL/tasks" -H "$ADMIN" -H "$JSON" -d '{
  "title": "Smoke test after deploy", "description": "Run the smoke suite", "schedule_kind": "event",
  "schedule_expr": "'"$EVENT_TYPE"'.*", "payload": {"suite": "smoke"}, "created_by": "'"$CREATOR"'",
  "queue": "'"$QUEUE"'"}' | json '["id"]')
curl -X POST "$TASKLOOM_URL/events" -H "$ADMIN" -H "$JSON" \
  -d '{"type": "'"$EVENT_TYPE"'.finished", "payload": {"version": "1.4.2"}}' | json '["matched"][0]["outcome"]'
GOT=$(work_one)
echo "the agent got: $GOT"

echo "== cancel both (final)"
curl -X POST "$TASKLOOM_URL/tasks/$SCHEDULE_ID/cancel" -H "$ADMIN" -H "$JSON" -d '{"reason": "example done"}' \
  | json '["status"]'
curl -X POST "$TASKLOOM_URL/tasks/$ON_DEPLOY/cancel" -H "$ADMIN" | json '["status"]'
