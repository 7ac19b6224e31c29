"""Webhooks that cannot be turned inward (issue 13: D4, D5, the allow settings, redirects,
read cap, total timeout). Receivers are real loopback HTTP servers; only DNS answers are made
up (a resolver that flips between calls), and no connection ever leaves loopback."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpcore
import pytest

from taskloom.clock import ManualClock
from taskloom.domain.errors import InvalidInput
from taskloom.engine import webhooks
from taskloom.engine.webhooks import AddressPolicy, check_webhook_url
from tests.api.test_agents import register, submit
from tests.api.test_webhooks import SECRET, deliveries
from tests.conftest import MEMBER, ApiFactory

PUBLIC = "93.184.216.34"  # never connected to: the tests intercept the one place a socket opens


class Server:
    """A loopback server whose answer is a function of the handler (status, headers, body drip)."""

    def __init__(self, answer: Any) -> None:
        self.hits: list[dict[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                server.hits.append(dict(self.headers))
                try:
                    answer(self)
                except OSError:
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def ok_answer(h: BaseHTTPRequestHandler) -> None:
    h.send_response(200)
    h.send_header("Content-Length", "2")
    h.end_headers()
    h.wfile.write(b"ok")


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server(ok_answer)
    yield s
    s.close()


class FlippingResolver:
    """Answers ``first`` for the first ``flip_after`` lookups of ``name``, then ``then``."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, name: str, first: str, then: str, flip_after: int):
        self.calls = 0
        real = socket.getaddrinfo

        def getaddrinfo(host: Any, port: Any, *args: Any, **kw: Any) -> Any:
            if (host.decode() if isinstance(host, bytes) else host) != name:  # anyio passes bytes
                return real(host, port, *args, **kw)
            self.calls += 1
            address = first if self.calls <= flip_after else then
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, int(port or 80)))]

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def _submit_hook(make_api: ApiFactory, url: str, **settings: Any) -> Any:
    api = make_api(clock=ManualClock(), services=False, **{"webhook_timeout_seconds": 2.0, **settings})
    register(api, "bot")
    t = submit(api, callback_mode="webhook", webhook_url=url, webhook_secret=SECRET)
    assert api.post(f"/api/agents/bot/tasks/{t['task_id']}/cancel", {}, headers=MEMBER).status_code == 200
    return api, t


def test_d4_a_name_that_flips_to_loopback_is_never_reached(make_api: ApiFactory, server: Server,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Public at submit and at the send-time check, loopback after: the sender connects only to
    the address it checked (one lookup per attempt), so loopback gets nothing."""
    resolver = FlippingResolver(monkeypatch, "rebind.test", PUBLIC, "127.0.0.1", flip_after=2)
    opened: list[str] = []

    async def no_internet(backend: Any, address: str, port: int, *args: Any) -> Any:
        opened.append(address)
        if address != "127.0.0.1":
            raise httpcore.ConnectError(f"test: not connecting to {address}")
        return await backend.connect_tcp(address, port)

    monkeypatch.setattr(webhooks, "open_tcp", no_internet, raising=False)
    api, t = _submit_hook(make_api, f"http://rebind.test:{server.port}/hook")
    api.run_services_once()
    assert server.hits == [], "the webhook reached loopback through a second DNS lookup"
    assert opened == [PUBLIC] and resolver.calls == 2
    [d] = deliveries(api, t["task_id"])
    assert d["attempts"][0]["outcome"] == "retry" and "ConnectError" in d["attempts"][0]["error"]


def test_the_pinned_connection_keeps_the_name_in_host(make_api: ApiFactory, server: Server,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    resolver = FlippingResolver(monkeypatch, "hooks.test", "127.0.0.1", "127.0.0.1", flip_after=99)
    api, t = _submit_hook(make_api, f"http://hooks.test:{server.port}/hook", webhook_allowed_hosts="127.0.0.1")
    api.run_services_once()
    [d] = deliveries(api, t["task_id"])
    assert d["status"] == "delivered", d
    assert server.hits[0]["Host"] == f"hooks.test:{server.port}" and resolver.calls == 2


SIXTOFOUR_AND_FRIENDS = [
    "http://[2002:7f00:1::1]/", "http://[2002:a9fe:a9fe::1]/",  # 6to4 of 127.0.0.1, 169.254.169.254 (D5)
    "http://[2002:c0a8:1::1]/",  # 6to4 of 192.168.0.1
    "http://[2001:0:7f00:1::1]/",  # Teredo, server 127.0.0.1
    "http://[64:ff9b::7f00:1]/", "http://[64:ff9b::a9fe:a9fe]/", "http://[64:ff9b:1::a00:1]/",  # NAT64
    "http://[::127.0.0.1]/", "http://[::ffff:a9fe:a9fe]/",  # IPv4-compatible, IPv4-mapped
]


@pytest.mark.parametrize("url", SIXTOFOUR_AND_FRIENDS)
def test_d5_embedded_private_addresses_are_refused(url: str) -> None:
    for policy in (AddressPolicy(), AddressPolicy(allow_private=True)):
        with pytest.raises(InvalidInput, match="non-public"):
            check_webhook_url(url, policy)


def test_d5_at_submit_time(make_api: ApiFactory) -> None:
    api = make_api(clock=ManualClock(), services=False)
    register(api, "bot")
    for url in SIXTOFOUR_AND_FRIENDS[:2]:
        r = api.post("/api/agents/bot/tasks", {"message": "x", "callback_mode": "webhook", "webhook_url": url},
                     headers=MEMBER)
        assert r.status_code == 400 and "webhook_url refused" in r.json()["error"], (url, r.text)


def test_allowed_hosts_take_names_ips_and_cidrs() -> None:
    policy = AddressPolicy.parse("hooks.internal, 127.0.0.1,10.0.0.0/8 ,[fd00::1]")
    assert policy.refusal("hooks.internal", "192.168.9.9") is None
    assert policy.refusal("x", "127.0.0.1") is None and policy.refusal("x", "10.20.30.40") is None
    assert policy.refusal("x", "fd00::1") is None
    assert policy.refusal("x", "127.0.0.2") and policy.refusal("x", "192.168.0.1")
    assert policy.refusal("x", PUBLIC) is None


def test_allow_private_alias_never_opens_link_local_or_metadata() -> None:
    alias = AddressPolicy(allow_private=True)
    for address in ("127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "::1", "fd12::1"):
        assert alias.refusal("h", address) is None, address
    for address in ("169.254.169.254", "169.254.1.1", "fe80::1", "fd00:ec2::254", "100.100.100.200", "0.0.0.0"):
        assert alias.refusal("h", address), address


def test_redirects_are_not_followed(make_api: ApiFactory, server: Server) -> None:
    def redirect(h: BaseHTTPRequestHandler) -> None:
        h.send_response(307)
        h.send_header("Location", f"http://127.0.0.1:{server.port}/elsewhere")
        h.send_header("Content-Length", "0")
        h.end_headers()

    bouncer = Server(redirect)
    try:
        api, t = _submit_hook(make_api, f"http://127.0.0.1:{bouncer.port}/hook", webhook_allowed_hosts="127.0.0.1")
        api.run_services_once()
        [d] = deliveries(api, t["task_id"])
        assert d["attempts"][0]["status_code"] == 307 and d["status"] == "pending"
        assert server.hits == []
    finally:
        bouncer.close()


def test_at_most_64_kb_of_an_answer_is_read(make_api: ApiFactory) -> None:
    """A receiver that sends 128 KB of a 10 MB answer and then stalls: the sender stops at 64 KB."""
    def endless(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Length", str(10 * 1024 * 1024))
        h.end_headers()
        h.wfile.write(b"x" * 128 * 1024)
        h.wfile.flush()
        time.sleep(5)

    big = Server(endless)
    try:
        api, t = _submit_hook(make_api, f"http://127.0.0.1:{big.port}/hook", webhook_allowed_hosts="127.0.0.1")
        api.run_services_once()
        [d] = deliveries(api, t["task_id"])
        assert d["status"] == "delivered", d
    finally:
        big.close()


def test_a_dripping_answer_hits_the_total_timeout(make_api: ApiFactory) -> None:
    def drip(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Length", "100")
        h.end_headers()
        for _ in range(100):
            h.wfile.write(b"x")
            h.wfile.flush()
            time.sleep(0.2)

    slow = Server(drip)
    try:
        api, t = _submit_hook(make_api, f"http://127.0.0.1:{slow.port}/hook", webhook_allowed_hosts="127.0.0.1",
                              webhook_timeout_seconds=1.0)
        began = time.monotonic()
        api.run_services_once()
        assert time.monotonic() - began < 10
        [d] = deliveries(api, t["task_id"])
        assert "timeout" in d["attempts"][0]["error"], d
    finally:
        slow.close()
