"""Webhooks for tasks submitted to agents (seed 002): a transactional outbox and its sender.

- The outbox row is written by an event hook inside the same transaction as the state
  change it reports (awaiting_input, completed, failed, cancelled), so a delivery is never
  lost and never invented: it survives a crash or restart because it is in the database.
- The sender (a background ``Service``) takes due rows with a guarded update (so two
  processes never send the same attempt), POSTs the exact stored body, signs it with
  HMAC-SHA256 over ``"<timestamp>.<raw body>"``, and records every attempt. Non-2xx,
  timeouts and connection errors retry with exponential backoff (with jitter) until the
  retry period after the delivery was created is spent; then the delivery is ``failed``.
- URLs that resolve to private, loopback, link-local or otherwise non-public addresses are
  refused at submit time (and re-checked before each send, against DNS rebinding) unless
  ``TASKLOOM_WEBHOOK_ALLOW_PRIVATE=1``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import logging
import socket
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
import orjson

from taskloom.config import Settings
from taskloom.domain.errors import InvalidInput
from taskloom.domain.retry import retry_delay
from taskloom.engine.agents import TERMINAL_NAMES, iso
from taskloom.engine.context import EVENT_HOOKS, Ctx, loads, new_id
from taskloom.engine.engine import Service
from taskloom.engine.observe import webhook_attempt
from taskloom.storage.sql import Row, Tx

if TYPE_CHECKING:
    from taskloom.engine.engine import Engine

log = logging.getLogger("taskloom.webhooks")
SIGNATURE_HEADER = "X-Taskloom-Signature"
USER_AGENT = "taskloom-webhooks/1"


# -- signing ----------------------------------------------------------------------------------


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``b"<timestamp>." + body`` with the task's webhook secret."""
    return hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={sign(secret, timestamp, body)}"


def verify(secret: str, header: str, body: bytes, *, tolerance: float = 300.0, now: float | None = None) -> bool:
    """The receiver's check (also the documented recipe): parse ``t=..,v1=..``, recompute,
    compare in constant time, and refuse stale timestamps (replays)."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), parts.get("v1", ""))


# -- the SSRF rule ------------------------------------------------------------------------------


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast
                                 or ip.is_reserved or ip.is_unspecified)


def parse_webhook_url(url: str) -> tuple[str, int]:
    """(host, port) of an acceptable webhook URL, or InvalidInput naming the problem."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidInput(f"webhook_url is not a valid URL: {exc}") from exc
    if parts.scheme not in ("http", "https"):
        raise InvalidInput("webhook_url must be an http:// or https:// URL")
    if not parts.hostname:
        raise InvalidInput("webhook_url must name a host")
    if parts.username or parts.password:
        raise InvalidInput("webhook_url must not carry credentials")
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


def resolve_blocked(host: str, port: int) -> str | None:
    """Why ``host`` may not receive webhooks (a non-public address), or None. Blocking (DNS)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        return f"its host {host!r} does not resolve ({exc})"
    for info in infos:
        address = str(info[4][0])
        if not _is_public(address):
            return (f"it points at a private, loopback or link-local address ({address}); an admin may allow"
                    " that with TASKLOOM_WEBHOOK_ALLOW_PRIVATE=1")
    return None


def check_webhook_url(url: str, allow_private: bool) -> None:
    """Submit-time check. Blocking: call it from a worker thread."""
    host, port = parse_webhook_url(url)
    if allow_private:
        return
    problem = resolve_blocked(host, port)
    if problem:
        raise InvalidInput(f"webhook_url refused: {problem}")


# -- the outbox -------------------------------------------------------------------------------


def _outbox_hook(tx: Tx, ctx: Ctx, task: Row, event_type: str, run_id: str | None, payload: Any) -> None:
    """Write a delivery when a webhook-mode agent task awaits input or closes (same transaction)."""
    if task["source"] != "agent_task":
        return
    if event_type == "task.awaiting_input":
        status = "awaiting_input"
    elif task["status"] in TERMINAL_NAMES and task["closed_at"] == ctx.now:
        status = TERMINAL_NAMES[task["status"]]
    else:
        return
    done: set[tuple[str, str]] = tx.__dict__.setdefault("_webhook_outbox_done", set())
    if (task["id"], status) in done:  # one delivery per state change, whatever events follow it
        return
    done.add((task["id"], status))
    settings = tx.agent_task_get(task["id"])
    if settings is None or settings["callback_mode"] != "webhook" or not settings["webhook_url"]:
        return
    delivery_id = new_id("whd")
    error = task["error"]
    if status == "cancelled":
        error = (payload or {}).get("reason") if isinstance(payload, dict) else None
    body = {
        "delivery_id": delivery_id,
        "event": f"task.{status}",
        "task_id": task["id"],
        "agent_id": task["owner_ref"],
        "status": status,
        "result": loads(task["result"]) if status == "completed" else None,
        "error": error if status in ("failed", "cancelled") else None,
        "question": payload.get("question") if status == "awaiting_input" and isinstance(payload, dict) else None,
        "metadata": loads(task["metadata"]),
        "created_at": iso(task["created_at"]),
        "started_at": iso(task["started_at"]),
        "completed_at": iso(task["closed_at"]) if status != "awaiting_input" else None,
        "occurred_at": iso(ctx.now),
    }
    tx.webhook_delivery_insert({
        "id": delivery_id, "task_id": task["id"], "event": body["event"], "url": settings["webhook_url"],
        "body": orjson.dumps(body).decode(), "status": "pending", "attempts": 0, "next_attempt_at": ctx.now,
        "created_at": ctx.now, "updated_at": ctx.now,
    })


if _outbox_hook not in EVENT_HOOKS:
    EVENT_HOOKS.append(_outbox_hook)


def delivery_record(d: Row, attempts: list[Row], retry_period: float) -> Row:
    return {
        "id": d["id"],
        "task_id": d["task_id"],
        "event": d["event"],
        "url": d["url"],
        "status": d["status"],
        "attempt_count": d["attempts"],
        "next_attempt_at": iso(d["next_attempt_at"]) if d["status"] == "pending" else None,
        "give_up_at": iso(float(d["created_at"]) + retry_period),
        "last_status_code": d["last_status_code"],
        "last_error": d["last_error"],
        "created_at": iso(d["created_at"]),
        "delivered_at": iso(d["delivered_at"]),
        "payload": loads(d["body"]),
        "attempts": [
            {
                "attempt": a["attempt"],
                "started_at": iso(a["started_at"]),
                "duration_ms": a["duration_ms"],
                "status_code": a["status_code"],
                "error": a["error"],
                "outcome": a["outcome"],
                "next_attempt_at": iso(a["next_attempt_at"]),
            }
            for a in attempts
        ],
    }


# -- the sender ---------------------------------------------------------------------------------


class WebhookSender(Service):
    name = "webhook-sender"

    def __init__(self, settings: Settings, batch: int = 50):
        self.settings = settings
        self.interval = settings.webhook_poll_seconds
        self.batch = batch
        self.sent = 0

    async def tick(self, engine: Engine) -> None:
        now = engine.clock.now()
        ids = await engine.storage.read(lambda tx: tx.webhook_due_ids(now, self.batch))
        if not ids:
            return
        hold = self.settings.webhook_timeout_seconds + 60  # a crashed sender's rows come back after this

        def take(tx: Tx, ctx: Ctx) -> list[Row]:
            return [d for d in (tx.webhook_lock(i, ctx.now, ctx.now + hold) for i in ids) if d is not None]

        taken = await engine.system_write(take)
        if not taken:
            return
        async with httpx.AsyncClient(timeout=self.settings.webhook_timeout_seconds, follow_redirects=False,
                                     trust_env=False) as client:
            outcomes = await asyncio.gather(*(self._send(client, d) for d in taken))
        started = now
        await engine.system_write(lambda tx, ctx: [self._settle(tx, ctx, d, o, started)
                                                    for d, o in zip(taken, outcomes, strict=True)])

    async def _send(self, client: httpx.AsyncClient, d: Row) -> tuple[int | None, str | None, int]:
        """(status code, error, duration ms). Never raises."""
        began = time.monotonic()
        try:
            if not self.settings.webhook_allow_private:
                host, port = parse_webhook_url(d["url"])
                problem = await asyncio.to_thread(resolve_blocked, host, port)
                if problem:
                    return None, f"refused: {problem}", 0
            body = d["body"].encode()
            timestamp = int(time.time())
            headers = {
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                SIGNATURE_HEADER: signature_header(d["secret"] or "", timestamp, body),
                "X-Taskloom-Timestamp": str(timestamp),
                "X-Taskloom-Delivery": d["id"],
                "X-Taskloom-Event": d["event"],
            }
            response = await client.post(d["url"], content=body, headers=headers)
            return response.status_code, None, int((time.monotonic() - began) * 1000)
        except httpx.TimeoutException:
            return None, f"timeout after {self.settings.webhook_timeout_seconds} s", _ms(began)
        except (httpx.HTTPError, OSError, InvalidInput) as exc:
            return None, f"{type(exc).__name__}: {getattr(exc, 'message', None) or exc}", _ms(began)

    def _settle(self, tx: Tx, ctx: Ctx, d: Row, outcome: tuple[int | None, str | None, int], started: float) -> None:
        code, error, duration = outcome
        attempt = int(d["attempts"]) + 1
        changes: Row = {"attempts": attempt, "last_status_code": code, "locked_until": None, "updated_at": ctx.now}
        next_at: float | None = None
        if code is not None and 200 <= code < 300:
            result = "delivered"
            changes.update(status="delivered", delivered_at=ctx.now, last_error=None)
        else:
            error = error or f"HTTP {code}"
            changes["last_error"] = error
            delay = retry_delay("exponential_jitter", self.settings.webhook_backoff_base_seconds, attempt)
            next_at = ctx.now + delay
            if next_at > float(d["created_at"]) + self.settings.webhook_retry_period_seconds:
                result, next_at = "gave_up", None
                changes["status"] = "failed"
            else:
                result = "retry"
                changes["next_attempt_at"] = next_at
        if tx.webhook_delivery_update(d["id"], changes) is None:
            return
        tx.after_commit.append(lambda: webhook_attempt(result, d["id"], d["url"], code, error))
        tx.webhook_attempt_insert({
            "delivery_id": d["id"], "attempt": attempt, "started_at": started, "duration_ms": duration,
            "status_code": code, "error": error if result != "delivered" else None, "outcome": result,
            "next_attempt_at": next_at,
        })
        self.sent += 1


def _ms(began: float) -> int:
    return int((time.monotonic() - began) * 1000)
