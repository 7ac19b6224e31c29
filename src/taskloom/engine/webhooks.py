"""Webhooks for tasks submitted to agents (seed 002): a transactional outbox and its sender.

- The outbox row is written by an event hook inside the same transaction as the state
  change it reports (awaiting_input, completed, failed, cancelled), so a delivery is never
  lost and never invented: it survives a crash or restart because it is in the database.
- The sender (a background ``Service``) takes due rows with a guarded update (so two
  processes never send the same attempt), POSTs the exact stored body, signs it with
  HMAC-SHA256 over ``"<timestamp>.<raw body>"``, and records every attempt. Non-2xx,
  timeouts and connection errors retry with exponential backoff (with jitter) until the
  retry period after the delivery was created is spent; then the delivery is ``failed``.
- SSRF: a URL whose host resolves to any non-public address is refused, at submit time and
  before each send. Addresses carried inside IPv6 ones (IPv4-mapped or -compatible, 6to4,
  Teredo, NAT64) must be public too. ``TASKLOOM_WEBHOOK_ALLOWED_HOSTS`` (names, IPs, CIDRs)
  allows chosen private receivers; ``TASKLOOM_WEBHOOK_ALLOW_PRIVATE=1`` (deprecated) allows
  loopback and private ranges, never link-local or cloud metadata addresses.
- Each send resolves the host once, checks every answer, and connects to that checked address
  only (a pinned transport: Host header, TLS SNI and certificate check use the name), so a
  name that answers differently the second time (DNS rebinding) cannot turn it inward. No
  redirects are followed, at most 64 KB of an answer is read, and connect and total time are
  bounded.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import ipaddress
import logging
import socket
import ssl
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpcore
import httpx
import orjson

from taskloom.config import Settings
from taskloom.domain.errors import InvalidInput
from taskloom.domain.projections import TERMINAL_NAMES
from taskloom.domain.retry import retry_delay
from taskloom.domain.times import iso
from taskloom.engine.context import Ctx, loads, new_id
from taskloom.engine.engine import Service
from taskloom.engine.observe import webhook_attempt
from taskloom.rows import Row
from taskloom.storage.protocols import Tx

if TYPE_CHECKING:
    from taskloom.engine.engine import Engine

log = logging.getLogger("taskloom.webhooks")
SIGNATURE_HEADER = "X-Taskloom-Signature"
USER_AGENT = "taskloom-webhooks/1"
MAX_RESPONSE_BYTES = 64 * 1024
CONNECT_TIMEOUT_SECONDS = 5.0


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

IP = ipaddress.IPv4Address | ipaddress.IPv6Address
# Cloud metadata services: never a webhook receiver, whatever the allow-private alias says.
METADATA = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254"))
# What the deprecated TASKLOOM_WEBHOOK_ALLOW_PRIVATE=1 opens: loopback and private ranges only.
_ALIAS_NETWORKS = tuple(ipaddress.ip_network(n) for n in (
    "127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "::1/128", "fc00::/7"))
_warned: list[bool] = []  # the deprecation is logged once per process
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


def embedded(ip: IP) -> list[IP]:
    """The IPv4 addresses an IPv6 address carries: IPv4-mapped or -compatible, 6to4, Teredo
    (server and client), NAT64. A packet to the outer address can reach any of them."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return []
    out: list[IP] = []
    low32 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.ipv4_mapped is not None:
        out.append(ip.ipv4_mapped)
    if int(ip) >> 32 == 0 and int(ip) > 1:  # ::a.b.c.d (deprecated IPv4-compatible)
        out.append(low32)
    if ip.sixtofour is not None:
        out.append(ip.sixtofour)
    if ip.teredo is not None:
        out.extend(ip.teredo)
    if any(ip in n for n in _NAT64):
        out.append(low32)
    return out


def _is_public(ip: IP) -> bool:
    return ip.is_global and not (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast
                                 or ip.is_reserved or ip.is_unspecified)


@dataclass(frozen=True)
class AddressPolicy:
    """Which addresses may receive webhooks: public ones, plus what the settings allow."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    allow_private: bool = False  # the deprecated alias

    @classmethod
    def parse(cls, allowed_hosts: str, allow_private: bool = False) -> AddressPolicy:
        hosts, networks = set(), []
        for entry in (e.strip() for e in allowed_hosts.split(",")):
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                hosts.add(entry.lower().rstrip("."))
        return cls(frozenset(hosts), tuple(networks), allow_private)

    @classmethod
    def from_settings(cls, settings: Settings) -> AddressPolicy:
        if settings.webhook_allow_private and not _warned:
            _warned.append(True)
            log.warning("TASKLOOM_WEBHOOK_ALLOW_PRIVATE is deprecated: list receivers in TASKLOOM_WEBHOOK_ALLOWED_HOSTS"
                        " (the alias allows loopback and private ranges, never link-local or metadata)")
        return cls.parse(settings.webhook_allowed_hosts, settings.webhook_allow_private)

    def refusal(self, host: str, address: str) -> str | None:
        """Why ``host`` at ``address`` may not receive webhooks, or None."""
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if host.lower().rstrip(".") in self.hosts or any(ip in n for n in self.networks):
            return None
        for candidate in (ip, *embedded(ip)):
            if _is_public(candidate):
                continue
            if (self.allow_private and candidate == ip and ip not in METADATA
                    and any(ip in n for n in _ALIAS_NETWORKS)):
                continue  # the alias opens loopback and private addresses themselves, not ones carried inside others
            carried = "" if candidate == ip else f" (it carries {candidate})"
            return (f"it points at a non-public address ({address}{carried}); an admin may allow it with"
                    " TASKLOOM_WEBHOOK_ALLOWED_HOSTS")
        return None


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


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` answers now. Blocking (DNS): call it from a worker thread."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def checked_address(host: str, port: int, policy: AddressPolicy) -> tuple[str | None, str | None]:
    """(the address to connect to, None) when every answer is allowed, else (None, why not). Blocking."""
    try:
        addresses = resolve(host, port)
    except (OSError, UnicodeError) as exc:
        return None, f"its host {host!r} does not resolve ({exc})"
    if not addresses:
        return None, f"its host {host!r} does not resolve"
    for address in addresses:
        problem = policy.refusal(host, address)
        if problem:
            return None, problem
    return addresses[0], None


def check_webhook_url(url: str, policy: AddressPolicy) -> None:
    """Submit-time check. Blocking: call it from a worker thread."""
    host, port = parse_webhook_url(url)
    _, problem = checked_address(host, port, policy)
    if problem:
        raise InvalidInput(f"webhook_url refused: {problem}")


# -- the pinned transport -------------------------------------------------------------------------


async def open_tcp(backend: httpcore.AsyncNetworkBackend, address: str, port: int, timeout: float | None,
                   local_address: str | None, socket_options: Iterable[Any] | None) -> httpcore.AsyncNetworkStream:
    """The one place a webhook socket is opened: to a checked address, never to a name."""
    return await backend.connect_tcp(address, port, timeout=timeout, local_address=local_address,
                                     socket_options=socket_options)


class _PinnedBackend(httpcore.AsyncNetworkBackend):
    """Connects ``host`` to ``address`` and nothing else: no second DNS lookup."""

    def __init__(self, host: str, address: str):
        self.host = host
        self.address = address
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                          socket_options: Iterable[Any] | None = None) -> httpcore.AsyncNetworkStream:
        if host.lower() != self.host:
            raise httpcore.ConnectError(f"{host} is not the checked host {self.host}")
        return await open_tcp(self._inner, self.address, port, timeout, local_address, socket_options)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class PinnedTransport(httpx.AsyncHTTPTransport):
    """An httpx transport whose connections go to one checked address. The URL keeps the name,
    so the Host header, TLS SNI and the certificate check are the name's."""

    def __init__(self, url: str, address: str):
        super().__init__(trust_env=False)
        host = httpx.URL(url).raw_host.decode("ascii").lower()
        # httpx builds its pool without a network-backend option; this pool is the same but for it.
        self._pool = httpcore.AsyncConnectionPool(ssl_context=_ssl_context(), max_connections=1,
                                                  network_backend=_PinnedBackend(host, address))


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """One verifying TLS context for every send (loading the CA bundle is slow)."""
    return httpx.create_ssl_context(trust_env=False)


# -- the outbox -------------------------------------------------------------------------------


def outbox_hook(tx: Tx, ctx: Ctx, task: Row, event_type: str, run_id: str | None, payload: Any) -> None:
    """Write a delivery when a webhook-mode agent task awaits input or closes (same transaction)."""
    if task["source"] != "agent_task":
        return
    if event_type == "task.awaiting_input":
        status = "awaiting_input"
    elif task["status"] in TERMINAL_NAMES and task["closed_at"] == ctx.now:
        status = TERMINAL_NAMES[task["status"]]
    else:
        return
    if (task["id"], status) in tx.outbox_written:  # one delivery per state change, whatever events follow it
        return
    tx.outbox_written.add((task["id"], status))
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
        self.policy = AddressPolicy.from_settings(settings)
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
        outcomes = await asyncio.gather(*(self._send(d) for d in taken))
        started = now
        def settle(tx: Tx, ctx: Ctx) -> None:
            for d, o in zip(taken, outcomes, strict=True):
                self._settle(tx, ctx, d, o, started)

        await engine.system_write(settle)

    async def _send(self, d: Row) -> tuple[int | None, str | None, int]:
        """(status code, error, duration ms). Never raises."""
        began = time.monotonic()
        total = self.settings.webhook_timeout_seconds
        try:
            host, port = parse_webhook_url(d["url"])
            address, problem = await asyncio.to_thread(checked_address, host, port, self.policy)
            if address is None:
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
            timeout = httpx.Timeout(total, connect=min(CONNECT_TIMEOUT_SECONDS, total))
            transport = PinnedTransport(d["url"], address)
            async with (asyncio.timeout(total),
                        httpx.AsyncClient(transport=transport, timeout=timeout, follow_redirects=False,
                                          trust_env=False) as client,
                        client.stream("POST", d["url"], content=body, headers=headers) as response):
                await _read_at_most(response, MAX_RESPONSE_BYTES)
            return response.status_code, None, _ms(began)
        except (httpx.TimeoutException, TimeoutError):
            return None, f"timeout after {total} s", _ms(began)
        except (httpx.HTTPError, httpcore.ConnectError, OSError, InvalidInput) as exc:
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


async def _read_at_most(response: httpx.Response, limit: int) -> None:
    """Read (and drop) at most ``limit`` bytes of the answer: only its status matters."""
    seen = 0
    async for chunk in response.aiter_raw():
        seen += len(chunk)
        if seen >= limit:
            break


def _ms(began: float) -> int:
    return int((time.monotonic() - began) * 1000)
