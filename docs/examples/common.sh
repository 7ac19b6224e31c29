# The one convention of every script in docs/examples (each sources this file):
#
#   TASKLOOM_URL   the server, default http://127.0.0.1:8420
#   ADMIN_TOKEN    a person's token; minted with `.venv/bin/taskloom token` when not given.
#                  Agents' tokens are minted the same way, for the agent names a script uses.
#   RUN_TAG        a suffix that makes names unique (default: time and a random number), so
#                  a script can run again and again against the same server.
#
# Run the scripts from the repository folder while `make serve` runs there: `taskloom
# token` then signs with the server's secret (taskloom-data/jwt-secret). Elsewhere, set
# TASKLOOM_JWT_SECRET or TASKLOOM_DATA_DIR, or pass the tokens.
set -euo pipefail

TASKLOOM_URL="${TASKLOOM_URL:-http://127.0.0.1:8420}"
TASKLOOM_CLI="${TASKLOOM_CLI:-.venv/bin/taskloom}"
RUN_TAG="${RUN_TAG:-$(date +%s)$RANDOM}"
JSON="Content-Type: application/json"

# A token for an agent named $1 (the token's sub is the agent's id).
agent_token() { "$TASKLOOM_CLI" token --sub "$1" --kind agent_session --role agent; }
ADMIN_TOKEN="${ADMIN_TOKEN:-$("$TASKLOOM_CLI" token --sub example-admin --role admin)}"

# Every call fails the script on an HTTP error, and prints the answer.
curl() { command curl -sS --fail-with-body "$@"; echo; }
# A field of a JSON answer: ... | json '["task"]["id"]'
json() { python3 -c "import json, sys; print(json.load(sys.stdin)$1)"; }
# The first "id" in a JSON answer.
first_id() { grep -o '"id":"[^"]*"' | head -n 1 | cut -d '"' -f 4; }
