// The actions a person takes on a task, shared by the inbox and the task page. They call the same
// endpoints as any client, so the server's role rules apply: a refusal shows the server's message.

import * as api from "./api.js";
import { h } from "./dom.js";

const CLOSED = new Set(["completed", "failed", "canceled"]);
const enc = encodeURIComponent;

/**
 * Buttons for one task. state: {task, approvalPending, awaitingInput, runId (the live run), triage, unread};
 * app: {flash, refresh}.
 */
export function taskActions(state, app) {
  const { task } = state;
  const name = task.identifier || task.id;
  const box = h("div", { class: "actions" });

  async function act(label, fn) {
    for (const b of box.querySelectorAll("button")) b.disabled = true;
    try {
      await fn();
      app.flash(`${label}: ${name}`);
      await app.refresh();
    } catch (err) {
      app.flash(`${label} ${name} refused: ${err.message}`, "error");
      for (const b of box.querySelectorAll("button")) b.disabled = false;
    }
  }

  const button = (label, fn, cls = "") => h("button", { type: "button", class: cls, onclick: () => act(label, fn) }, label);

  if (state.approvalPending) {
    box.append(button("Approve", () => api.post(`/api/tasks/${enc(task.id)}/approve`), "primary"));
    const reason = h("input", { type: "text", "aria-label": `Reason to reject ${name}`, placeholder: "Reason", class: "reason" });
    const confirm = h("span", { class: "confirm", hidden: true }, reason,
      button("Confirm reject", () => api.post(`/api/tasks/${enc(task.id)}/reject`, { reason: reason.value || undefined }), "danger"));
    box.append(h("button", {
      type: "button",
      onclick: () => { confirm.hidden = false; reason.focus(); },
    }, "Reject"), confirm);
  }
  if (state.awaitingInput && state.runId) {
    // The answer goes on the run's coordination channel, where the agent reads it.
    const text = h("textarea", { rows: 2, "aria-label": `Answer to ${name}`, placeholder: "Your answer to the agent" });
    box.append(h("div", { class: "answer" }, text, button("Answer", () => {
      if (!text.value.trim()) throw new api.ApiError(400, "write an answer first");
      return api.post(`/api/task-runs/${enc(state.runId)}/messages`, { kind: "answer", body: text.value });
    }, "primary")));
  }
  if (task.status === "failed") {
    box.append(button("Retry", () => api.post(`/api/tasks/${enc(task.id)}/runs`)));
  }
  if (!CLOSED.has(task.status)) {
    box.append(button("Cancel", () => api.post(`/api/tasks/${enc(task.id)}/cancel`), "danger"));
  }
  if (state.triage !== undefined) {
    const tr = state.triage;
    if (state.unread) box.append(button("Mark read", () => api.post(`/api/tasks/${enc(task.id)}/triage/read`), "quiet"));
    if (!tr || !tr.dismissed) box.append(button("Dismiss", () => api.post(`/api/tasks/${enc(task.id)}/triage/dismiss`), "quiet"));
    if (!tr || !tr.archived) box.append(button("Archive", () => api.post(`/api/tasks/${enc(task.id)}/triage/archive`), "quiet"));
  }
  return box;
}
