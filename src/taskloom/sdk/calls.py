"""The API calls as data, shared by the sync and the async client (no I/O here).

Each function returns a :class:`Call`: method, path, body, whether it may be sent again
after it possibly reached the server, and how to turn the answer into SDK objects. The
two clients only send calls; retries are decided by :class:`RetryPolicy`.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from time import time
from typing import Any

from taskloom.sdk.errors import TaskloomError
from taskloom.sdk.models import Claim, Message, Task

DEFAULT_URL = "http://127.0.0.1:8420"
RETRY_STATUSES = frozenset({429, 502, 503, 504})


def configure(url: str | None, token: str | None) -> tuple[str, str]:
    """The server URL and token: the arguments, else TASKLOOM_URL / TASKLOOM_TOKEN."""
    url = (url or os.environ.get("TASKLOOM_URL") or DEFAULT_URL).rstrip("/")
    token = token or os.environ.get("TASKLOOM_TOKEN") or ""
    if not token:
        raise ValueError("no token: pass token=... or set TASKLOOM_TOKEN "
                         "(mint one with `taskloom token --sub NAME --kind agent_session --role agent`)")
    return url, token


def encode(value: Any) -> bytes:
    """Strict JSON (no NaN): raises TypeError/ValueError for what the server could not store."""
    return json.dumps(value, allow_nan=False, separators=(",", ":")).encode()


def _same(body: Any) -> Any:
    return body


@dataclass
class Call:
    method: str
    path: str
    body: Any = None
    params: dict[str, Any] | None = None
    # Safe calls may be sent again after a lost answer: reads, and writes the server
    # de-duplicates (idempotency key, claim token). Others are retried only when the
    # request surely did not arrive (connect errors) or was refused unprocessed (429).
    safe: bool = True
    unwrap: Callable[[Any], Any] = field(default=_same)


@dataclass
class RetryPolicy:
    """Exponential backoff with jitter, for at most ``budget`` seconds per call."""

    budget: float = 60.0
    base: float = 0.2
    cap: float = 5.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return max(0.0, retry_after)
        step = min(self.cap, self.base * 2 ** attempt)
        return step / 2 + random.uniform(0, step / 2)  # equal jitter: never a tight loop

    def retry_status(self, call: Call, status: int) -> bool:
        return status == 429 or (status in RETRY_STATUSES and call.safe)


def retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time())
    except (TypeError, ValueError):
        return None


def error_message(status: int, text: str) -> TaskloomError:
    try:
        message = json.loads(text).get("error", text)
    except (ValueError, AttributeError):
        message = text
    return TaskloomError(status, str(message))


# -- tasks -----------------------------------------------------------------------------


def create_task(title: str, fields: dict[str, Any]) -> Call:
    return Call("POST", "/api/tasks", {"title": title, **fields}, safe=False,
                unwrap=lambda b: Task.from_api(b["task"]))


def create_tasks(tasks: list[dict[str, Any]]) -> Call:
    return Call("POST", "/api/tasks/batch", {"tasks": tasks}, safe=False,
                unwrap=lambda b: [Task.from_api(t) for t in b["tasks"]])


def get_task(task_id: str) -> Call:
    return Call("GET", f"/api/tasks/{task_id}", unwrap=lambda b: Task.from_api(b["task"]["task"]))


def run_task_status(run_id: str) -> Call:
    """The status of a run's task (``ready`` again after a failure means it will be retried)."""
    return Call("GET", f"/api/task-runs/{run_id}", unwrap=lambda b: b["run"]["task"]["status"])


# -- the agent side --------------------------------------------------------------------


def claim_filters(channel: str | None, wait_seconds: float, lease_seconds: float,
                  filters: dict[str, Any]) -> dict[str, Any]:
    body = {"wait_seconds": wait_seconds, "lease_seconds": lease_seconds, **filters}
    if channel:
        body["network_channel"] = channel
    return body


def claim(channel: str | None, wait_seconds: float, lease_seconds: float, filters: dict[str, Any]) -> Call:
    return Call("POST", "/api/agent/tasks/claim-next", claim_filters(channel, wait_seconds, lease_seconds, filters),
                unwrap=lambda b: None if b is None else Claim.from_api(b["claim"], lease_seconds))


def claim_batch(max_runs: int, channel: str | None, wait_seconds: float, lease_seconds: float,
                filters: dict[str, Any]) -> Call:
    body = {**claim_filters(channel, wait_seconds, lease_seconds, filters), "max_runs": max_runs}
    return Call("POST", "/api/agent/tasks/claim-batch", body,
                unwrap=lambda b: [] if b is None else [Claim.from_api(c, lease_seconds) for c in b["claims"]])


def heartbeat(claim: Claim, fields: dict[str, Any]) -> Call:
    body = {"lease_seconds": claim.lease_seconds, "claim_token": claim.claim_token, **fields}
    return Call("POST", f"/api/agent/tasks/{claim.run_id}/heartbeat", body, unwrap=lambda b: b["lease"])


def complete_item(claim: Claim, result: Any, fields: dict[str, Any]) -> dict[str, Any]:
    # The automatic key makes a retried complete (after a lost answer) a no-op, never a second one.
    return {"run_id": claim.run_id, "result": result, "claim_token": claim.claim_token,
            "idempotency_key": f"complete-{claim.run_id}", **fields}


def complete_one(item: dict[str, Any]) -> Call:
    body = {k: v for k, v in item.items() if k != "run_id"}
    return Call("POST", f"/api/agent/tasks/{item['run_id']}/complete", body, unwrap=lambda b: b["lease"])


def complete(claim: Claim, result: Any, fields: dict[str, Any]) -> Call:
    return complete_one(complete_item(claim, result, fields))


def complete_batch(items: list[dict[str, Any]]) -> Call:
    return Call("POST", "/api/agent/tasks/complete-batch", {"items": items}, unwrap=lambda b: b["results"])


def fail(claim: Claim, error: str, retryable: bool) -> Call:
    body = {"error": error[-20_000:] or "failed", "retryable": retryable, "claim_token": claim.claim_token,
            "idempotency_key": f"fail-{claim.run_id}"}
    return Call("POST", f"/api/agent/tasks/{claim.run_id}/fail", body, unwrap=lambda b: b["lease"])


def release(claim: Claim, reason: str | None) -> Call:
    body = {"reason": reason, "claim_token": claim.claim_token}
    return Call("POST", f"/api/agent/tasks/{claim.run_id}/release", body, unwrap=lambda b: b["lease"])


def ask(claim: Claim, question: str) -> Call:
    body = {"question": question, "claim_token": claim.claim_token}
    return Call("POST", f"/api/agent/tasks/{claim.run_id}/awaiting-input", body, safe=False,
                unwrap=lambda b: Message.from_api(b["message"]))


def messages(run_id: str, after_sequence: int, role: str | None) -> Call:
    params: dict[str, Any] = {"after_sequence": after_sequence}
    if role:
        params["role"] = role
    return Call("GET", f"/api/agent/tasks/{run_id}/messages", params=params,
                unwrap=lambda b: [Message.from_api(m) for m in b["messages"]])


def missing_endpoint(exc: TaskloomError) -> bool:
    """An older server without the batch endpoints answers 404/405 for the path itself."""
    return exc.status in (404, 405)
