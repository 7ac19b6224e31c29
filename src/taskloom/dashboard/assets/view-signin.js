// Sign in: a token (a JWT, or an API key), checked against the server, kept in sessionStorage.

import * as api from "./api.js";
import { h } from "./dom.js";

export function mount({ main, params, app, message }) {
  document.title = "Sign in · Taskloom";
  const input = h("input", { id: "token", name: "token", type: "password", autocomplete: "off", required: true });
  const error = h("p", { class: "error", role: "alert", hidden: !message }, message || "");
  const form = h("form", { class: "card signin" },
    h("h1", {}, "Taskloom"),
    h("p", { class: "muted" }, "Sign in with a token from ", h("code", {}, "taskloom token"), "."),
    h("label", { for: "token" }, "Token"), input,
    h("button", { type: "submit", class: "primary" }, "Sign in"),
    error);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    api.setToken(input.value.trim());
    try {
      await api.get("/api/observe/tasks/inbox", { limit: 1 });
    } catch (err) {
      api.signOut();
      error.textContent = err.message;
      error.hidden = false;
      return;
    }
    input.value = "";
    const next = params.get("next") || "/ui";
    app.navigate(next.startsWith("/ui") && !next.startsWith("/ui/signin") ? next : "/ui", { replace: true });
  });
  main.append(form);
  input.focus();
  return {};
}
