"""API keys: created by admins, accepted as Bearer and X-API-Key, acting like a JWT with the
same claims, channel-limited claims, revocation, last use; JWT secret rotation."""

from __future__ import annotations

import time

import jwt

from taskloom.api.auth import issue_token
from tests.api.helpers import create
from tests.conftest import ADMIN, MEMBER, SECRET, Api, ApiFactory, agent


def make_key(api: Api, **fields: object) -> dict:
    body = {"name": "k", "sub": "agent-1", "kind": "agent_session", "role": "agent", **fields}
    r = api.post("/api/keys", body)
    assert r.status_code == 201, r.text
    return r.json()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_create_use_list_revoke(api: Api) -> None:
    created = make_key(api, name="ci")
    key = created["key"]
    assert key.startswith("tlk_") and len(key) >= 4 + 43  # 32 random bytes, URL-safe base64
    assert set(key[4:]) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    # Used as Bearer and as X-API-Key: the agent claims work like a JWT agent would.
    create(api, title="t")
    r = api.post("/api/agent/tasks/claim-next", {}, headers=bearer(key))
    assert r.status_code == 200, r.text
    assert r.json()["claim"]["run"]["claimed_by"] == {"kind": "agent_session", "ref": "agent-1"}
    assert api.get("/api/tasks", headers={"X-API-Key": key}).status_code == 200
    listed = api.get("/api/keys").json()["keys"]
    assert [k["id"] for k in listed] == [created["id"]]
    assert "key" not in listed[0] and "key_hash" not in listed[0] and key not in str(listed)
    assert listed[0]["last_used_at"] is not None
    assert api.delete(f"/api/keys/{created['id']}").status_code == 204
    time.sleep(0.6)  # past the lookup cache of any other process; this one forgets at once
    for headers in (bearer(key), {"X-API-Key": key}):
        r = api.get("/api/tasks", headers=headers)
        assert (r.status_code, r.json()) == (401, {"error": "api key revoked"})
    assert api.get("/api/keys").json()["keys"] == []
    assert api.get("/api/keys", params={"include_revoked": "true"}).json()["keys"][0]["revoked_at"]


def test_keys_are_admin_only_and_validated(api: Api) -> None:
    body = {"name": "k", "sub": "x", "role": "admin"}
    assert api.post("/api/keys", body, headers=MEMBER).status_code == 403
    assert api.get("/api/keys", headers=agent("a1")).status_code == 403
    assert api.delete("/api/keys/key_nope").status_code == 404
    r = api.post("/api/keys", {**body, "role": "root"})
    assert r.status_code == 400 and "role" in r.json()["error"]
    r = api.post("/api/keys", {**body, "expires_at": "2001-01-01T00:00:00Z"})
    assert (r.status_code, r.json()["error"]) == (400, "expires_at must be in the future")
    bogus = api.get("/api/tasks", headers=bearer("tlk_" + "x" * 43))
    assert (bogus.status_code, bogus.json()) == (401, {"error": "invalid api key"})


def test_key_has_the_role_rules_of_the_same_jwt(api: Api) -> None:
    member = make_key(api, sub="bob", kind="human", role="member")["key"]
    task = create(api)
    # A member may not delete tasks, with a key as with a JWT.
    assert api.delete(f"/api/tasks/{task['id']}", headers=bearer(member)).status_code == 403
    assert api.delete(f"/api/tasks/{task['id']}", headers=MEMBER).status_code == 403
    scoped = make_key(api, sub="w", kind="human", role="member", workspaces=["ws-a"])["key"]
    create(api, title="in-b", scope="workspace", workspace_id="ws-b")
    titles = {t["title"] for t in api.get("/api/tasks", headers=bearer(scoped)).json()["tasks"]}
    assert "in-b" not in titles


def test_expired_key_is_refused(manual_api: Api) -> None:
    api = manual_api
    key = make_key(api, expires_at="2100-01-01T00:00:00Z")["key"]
    assert api.get("/api/tasks", headers=bearer(key)).status_code == 200
    api.clock.set(4_200_000_000.0)  # after 2100
    time.sleep(0.6)
    r = api.get("/api/tasks", headers=bearer(key))
    assert (r.status_code, r.json()) == (401, {"error": "api key expired"})


def test_channel_limited_key_claims_only_from_its_channels(api: Api) -> None:
    key = make_key(api, channels=["ops", "ml"])["key"]
    create(api, title="other", network_channel="web", priority="urgent")
    create(api, title="none", priority="urgent")
    ml = create(api, title="ml", network_channel="ml")
    # Without a channel: only from the key's channels, even though more urgent work waits elsewhere.
    r = api.post("/api/agent/tasks/claim-next", {}, headers=bearer(key))
    assert r.status_code == 200 and r.json()["claim"]["task"]["id"] == ml["id"]
    assert api.post("/api/agent/tasks/claim-next", {}, headers=bearer(key)).status_code == 204
    r = api.post("/api/agent/tasks/claim-next", {"network_channel": "web"}, headers=bearer(key))
    assert r.status_code == 403 and "ops, ml" in r.json()["error"]
    # The same claim with a plain JWT of that agent takes the urgent ones.
    r = api.post("/api/agent/tasks/claim-next", {}, headers=agent("agent-1"))
    assert r.json()["claim"]["task"]["title"] in ("other", "none")


def test_last_used_at_is_written_at_most_once_a_minute(manual_api: Api) -> None:
    api = manual_api
    created = make_key(api, sub="m", kind="human", role="member")
    key = created["key"]

    def last_used() -> str | None:
        time.sleep(0.1)  # the write happens off the request's path
        return api.get("/api/keys").json()["keys"][0]["last_used_at"]

    api.get("/api/tasks", headers=bearer(key))
    first = last_used()
    assert first is not None
    api.clock.advance(30)
    time.sleep(0.6)
    api.get("/api/tasks", headers=bearer(key))
    assert last_used() == first
    api.clock.advance(31)
    time.sleep(0.6)
    api.get("/api/tasks", headers=bearer(key))
    assert last_used() != first


def test_jwt_secret_rotation(make_api: ApiFactory) -> None:
    api = make_api(jwt_secret=f"new-secret-0123456789-0123456789-abcd,{SECRET}")
    old = {"Authorization": "Bearer " + issue_token(SECRET, "root", role="admin")}
    assert api.get("/api/tasks", headers=old).status_code == 200
    assert api.get("/api/tasks", headers=ADMIN).status_code == 200
    new = issue_token(api.settings.jwt_secret or "", "root", role="admin")
    jwt.decode(new, "new-secret-0123456789-0123456789-abcd", algorithms=["HS256"])  # signed with the first
    assert api.get("/api/tasks", headers=bearer(new)).status_code == 200
    other = {"Authorization": "Bearer " + issue_token("another-secret-0123456789-0123456789", "x")}
    r = api.get("/api/tasks", headers=other)
    assert r.status_code == 401 and "invalid token" in r.json()["error"]
