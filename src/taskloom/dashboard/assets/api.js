// The API client: the token lives in this tab's sessionStorage only (never in a URL or on the
// page) and goes out as an Authorization header, also for the event streams: EventSource cannot
// send headers, so streams are read with fetch().

const KEY = "taskloom.token";

export function token() {
  return sessionStorage.getItem(KEY);
}

export function setToken(value) {
  sessionStorage.setItem(KEY, value);
}

export function signOut() {
  sessionStorage.removeItem(KEY);
}

/** The sub and role of a JWT, for display only (the server verifies it); null for other tokens. */
export function whoAmI() {
  const parts = (token() || "").split(".");
  if (parts.length !== 3) return null;
  try {
    const claims = JSON.parse(atob(parts[1].replace(/-/g, "+").replace(/_/g, "/")));
    return { sub: String(claims.sub ?? ""), role: String(claims.role ?? "member"), kind: String(claims.kind ?? "human") };
  } catch {
    return null;
  }
}

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function headers(extra) {
  return { Authorization: `Bearer ${token()}`, ...extra };
}

async function errorOf(resp) {
  let message = `${resp.status} ${resp.statusText}`;
  try {
    const body = await resp.json();
    if (body && typeof body.error === "string") message = body.error;
  } catch {
    /* not JSON: keep the status line */
  }
  return new ApiError(resp.status, message);
}

/** Call the API; answers the parsed JSON (null for 204), throws ApiError with the server's message. */
export async function call(method, path, body) {
  const init = { method, headers: headers(body === undefined ? {} : { "Content-Type": "application/json" }) };
  if (body !== undefined) init.body = JSON.stringify(body);
  let resp;
  try {
    resp = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, `cannot reach the server: ${err.message}`);
  }
  if (!resp.ok) throw await errorOf(resp);
  if (resp.status === 204) return null;
  return resp.json();
}

export const get = (path, params) => call("GET", params ? `${path}?${query(params)}` : path);
export const post = (path, body) => call("POST", path, body ?? {});
export const patch = (path, body) => call("PATCH", path, body);

/** A query string from an object, leaving out empty values. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  return q.toString();
}

/**
 * Follow a Server-Sent Events stream. Calls onEvent({id, event, data}) per event and onState("live" |
 * "reconnecting" | "closed", detail). On a drop it reconnects after a short wait, sending the last
 * id it saw as Last-Event-ID so the server replays only what was missed. Answers stop().
 */
export function stream(path, { onEvent, onState, lastEventId = null }) {
  let stopped = false;
  let controller = null;
  let lastId = lastEventId;
  let wait = 500;

  async function once() {
    controller = new AbortController();
    const extra = { Accept: "text/event-stream" };
    if (lastId !== null) extra["Last-Event-ID"] = String(lastId);
    const resp = await fetch(path, { headers: headers(extra), signal: controller.signal, cache: "no-store" });
    if (!resp.ok) throw await errorOf(resp);
    onState("live");
    wait = 500;
    const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value.replace(/\r\n?/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const msg = parseBlock(block);
        if (msg.id !== null) lastId = msg.id;
        if (msg.data !== null) onEvent(msg);
      }
    }
  }

  (async () => {
    while (!stopped) {
      try {
        await once();
        if (!stopped) onState("reconnecting", "the stream ended");
      } catch (err) {
        if (stopped) break;
        if (err instanceof ApiError && err.status >= 400 && err.status < 500) {
          onState("closed", err.message);
          return;
        }
        onState("reconnecting", err.message);
      }
      await new Promise((r) => setTimeout(r, wait));
      wait = Math.min(wait * 2, 3000);
    }
  })();

  return () => {
    stopped = true;
    if (controller) controller.abort();
  };
}

// One SSE message block: "id:", "event:" and "data:" lines; comments (":") are keep-alives.
function parseBlock(block) {
  const msg = { id: null, event: "message", data: null };
  const data = [];
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "id") msg.id = value;
    else if (field === "event") msg.event = value;
    else if (field === "data") data.push(value);
  }
  if (data.length) msg.data = data.join("\n");
  return msg;
}
