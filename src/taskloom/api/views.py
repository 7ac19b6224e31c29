"""Rows → the runtime API's (seed 004) JSON shapes. Pure functions, no I/O."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import orjson

from taskloom.domain.channels import MESSAGE_KINDS, PURPOSE, channel_id, channel_name
from taskloom.domain.key_limits import rate_limit_of
from taskloom.domain.priority import to_runtime
from taskloom.domain.times import iso as _iso
from taskloom.rows import Row

__all__ = ["to_runtime"]

# A batch answer repeats the same few instants (100 claims share claimed_at, lease_until,
# heartbeat_at; 1,000 created tasks share created_at): formatting each once halves its cost.
iso = lru_cache(maxsize=8192)(_iso)


def js(text: str | None) -> Any:
    return None if text is None else orjson.loads(text)


def actor(kind: str | None, ref: str | None) -> Row | None:
    return None if kind is None else {"kind": kind, "ref": ref}


def task_ref(t: Row) -> Row:
    return {
        "id": t["id"],
        "identifier": t["identifier"],
        "owner": actor(t["owner_kind"], t["owner_ref"]),
        "priority": to_runtime(t["priority"]),
        "scope": t["scope"],
        "status": t["status"],
        "title": t["title"],
        "workspace_id": t["workspace_id"],
    }


def task_record(t: Row) -> Row:
    return {
        **task_ref(t),
        "approval_policy": t["approval_policy"],
        "approval_state": t["approval_state"],
        "blocked_reason": t["blocked_reason"],
        "blocker": t["blocker"],
        "closed_at": iso(t["closed_at"]),
        "created_at": iso(t["created_at"]),
        "created_by": actor(t["created_by_kind"], t["created_by_ref"]),
        "description": t["description"],
        "draft": bool(t["draft"]),
        "max_attempts": t["max_attempts"],
        "attempts": t["attempts"],
        "metadata": js(t["metadata"]),
        "network_channel": t["network_channel"],
        "origin": actor(t["origin_kind"], t["origin_ref"]),
        "parent_task_id": t["parent_task_id"],
        "result": js(t["result"]),
        "error": t["error"],
        "started_at": iso(t["started_at"]),
        "updated_at": iso(t["updated_at"]),
        "last_activity_at": iso(t["last_activity_at"]),
        **key_limits(t),
    }


def key_limits(t: Row) -> Row:
    """concurrency_key, concurrency_limit and rate_limit of a task (or run)."""
    return {"concurrency_key": t["concurrency_key"], "concurrency_limit": int(t["concurrency_limit"] or 1),
            "rate_limit": rate_limit_of(t)}


def coordination_channel(r: Row) -> Row:
    """The run's channel (seed 004 CoordinationChannel), derived from the run row."""
    return {
        "allowed_message_kinds": list(MESSAGE_KINDS),
        "channel": channel_name(r["id"]),
        "display_name": f"Attempt {r['attempt']} of {r['task_id']}",
        "id": channel_id(r["id"]),
        "last_activity_at": iso(r.get("channel_activity_at")),
        "purpose": PURPOSE,
        "run_id": r["id"],
        "task_id": r["task_id"],
        "workflow_id": None,
        "workspace_id": r["workspace_id"],
    }


def message_record(m: Row) -> Row:
    return {
        "body": m["body"],
        "channel_id": channel_id(m["run_id"]) if m["run_id"] else None,
        "created_at": iso(m["created_at"]),
        "id": m["id"],
        "kind": m["kind"],
        "role": m["role"],
        "run_id": m["run_id"],
        "sender": actor(m["sender_kind"], m["sender_ref"]),
        "sequence": m["sequence"],
        "task_id": m["task_id"],
    }


def _run_common(r: Row, channel: Row | None = None) -> Row:
    return {
        "attempt": r["attempt"],
        "claim_token_hash": r["claim_token_hash"],
        "claimed_at": iso(r["claimed_at"]),
        "claimed_by": actor(r["claimed_by_kind"], r["claimed_by_ref"]),
        "coordination_channel": channel or coordination_channel(r),
        "coordination_channel_id": channel_id(r["id"]),
        "ended_at": iso(r["ended_at"]),
        "error": r["error"],
        "heartbeat_at": iso(r["heartbeat_at"]),
        "id": r["id"],
        "lease_until": iso(r["lease_until"]),
        "queued_at": iso(r["queued_at"]),
        "session_id": r["session_id"],
        "started_at": iso(r["started_at"]),
        "status": r["status"],
        "task_id": r["task_id"],
    }


def run_record(r: Row, channel: Row | None = None) -> Row:
    """``channel``: the run's coordination channel when the caller already built it."""
    return {
        **_run_common(r, channel),
        "available_at": iso(r["available_at"]),
        "idempotency_key": r["idempotency_key"],
        "metadata": js(r["metadata"]),
        "network_channel": r["network_channel"],
        "origin": actor(r["origin_kind"], r["origin_ref"]),
        "result": js(r["result"]),
        "timeout_at": iso(r["timeout_at"]),
    }


def run_summary(r: Row | None, max_attempts: int | None) -> Row | None:
    if r is None:
        return None
    return {**_run_common(r), "max_attempts": max_attempts}


def lease(r: Row, claim_token: str | None = None, channel: Row | None = None) -> Row:
    out: Row = {
        "claim_token_hash": r["claim_token_hash"],
        "claimed_by": actor(r["claimed_by_kind"], r["claimed_by_ref"]),
        "coordination_channel": channel or coordination_channel(r),
        "coordination_channel_id": channel_id(r["id"]),
        "heartbeat_at": iso(r["heartbeat_at"]),
        "lease_until": iso(r["lease_until"]),
        "run_id": r["id"],
        "session_id": r["session_id"],
        "status": r["status"],
        "task_id": r["task_id"],
    }
    if claim_token is not None:
        out["claim_token"] = claim_token
    return out


def claim(run: Row, task: Row, token: str) -> Row:
    """claim-next's ``claim`` object (also each element of claim-batch's ``claims``). Its three
    copies of the run's coordination channel are one object: built once, encoded three times."""
    channel = coordination_channel(run)
    return {
        "coordination_channel": channel,
        "lease": lease(run, token, channel),
        "run": run_record(run, channel),
        "task": {
            **task_ref(task),
            "description": task["description"],
            "metadata": js(task["metadata"]),
            "network_channel": task["network_channel"],
        },
        "claim_token": token,
    }


def usage_summary(r: Row) -> Row:
    return {
        "cost_currency": r["cost_currency"],
        "input_tokens": r["input_tokens"],
        "output_tokens": r["output_tokens"],
        "total_tokens": int(r["input_tokens"] or 0) + int(r["output_tokens"] or 0),
        "tool_call_count": r["tool_call_count"],
        "total_cost": r["total_cost"],
        "turn_count": r["turn_count"],
        "model": r.get("model"),
        "provider": r.get("provider"),
        "last_activity_at": iso(r["last_activity_at"]),
        "last_event_type": r["last_event_type"],
    }


def dependency(d: Row, depends_on: Row | None = None, *, with_ref: bool = True) -> Row:
    out: Row = {
        "created_at": iso(d["created_at"]),
        "depends_on_task_id": d["depends_on_task_id"],
        "kind": d["kind"],
        "task_id": d["task_id"],
    }
    if with_ref:
        out["depends_on"] = task_ref(depends_on) if depends_on else None
    return out


def task_summary(t: Row, *, active_run: Row | None, child_count: int, deps: list[Row], dep_tasks: dict[str, Row]) -> Row:
    return {
        **task_record(t),
        "active_run": run_summary(active_run, t["max_attempts"]),
        "child_count": child_count,
        "dependencies": [dependency(d, dep_tasks.get(d["depends_on_task_id"])) for d in deps],
        "dependency_count": len(deps),
    }


def event_record(e: Row) -> Row:
    return {
        "actor": actor(e["actor_kind"], e["actor_ref"]),
        "event_type": e["event_type"],
        "id": str(e["id"]),
        "origin": actor(e["origin_kind"], e["origin_ref"]),
        "payload": js(e["payload"]),
        "run_id": e["run_id"],
        "task_id": e["task_id"],
        "sequence": e["sequence"],
        "timestamp": iso(e["created_at"]),
    }


def timeline_item(e: Row, task: Row, run: Row | None) -> Row:
    return {
        "actor": actor(e["actor_kind"], e["actor_ref"]),
        "event_id": str(e["id"]),
        "event_type": e["event_type"],
        "origin": actor(e["origin_kind"], e["origin_ref"]),
        "payload": js(e["payload"]),
        "run": run_summary(run, task["max_attempts"]),
        "sequence": e["sequence"],
        "task": task_ref(task),
        "timestamp": iso(e["created_at"]),
    }


def triage_record(tr: Row) -> Row:
    return {
        "actor": actor(tr["actor_kind"], tr["actor_ref"]),
        "archived": bool(tr["archived"]),
        "dismissed": bool(tr["dismissed"]),
        "last_seen_activity_at": iso(tr["last_seen_activity_at"]),
        "read": bool(tr["read"]),
        "task_id": tr["task_id"],
        "updated_at": iso(tr["updated_at"]),
    }
