"""What the engine tells metrics and logs once a transaction has committed: run
transitions (claimed, finished, taken back), webhook attempts, schedule firings."""

from __future__ import annotations

import logging
from typing import Any

from taskloom.engine.context import Ctx
from taskloom.engine.engine import Engine
from taskloom.metrics import Metrics, run_outcome
from taskloom.rows import Row
from taskloom.storage.protocols import Tx

log = logging.getLogger("taskloom.background")
SCHEDULE_OUTCOMES = {"schedule.deduped": "deduped", "schedule.queued_behind": "queued_behind",
                     "schedule.skipped": "skipped"}


def observe_commits(engine: Engine, observed: Metrics) -> None:
    def committed(tx: Tx) -> None:
        if not tx.run_transitions:
            return
        observed.run_transitions(tx.run_transitions)
        for run in tx.run_transitions:
            outcome = run_outcome(run) if run["status"] == "failed" else None
            if outcome in ("lease_expired", "timed_out"):
                log.info("run %s taken back (%s)", run["id"], outcome, extra={"fields": {
                    "action": "run.taken_back", "outcome": outcome, "run_id": run["id"],
                    "task_id": run["task_id"], "error": run["error"]}})

    engine.storage.commit_hooks.append(committed)
    engine.extras["metrics"] = observed


def schedule_outcome_hook(tx: Tx, ctx: Ctx, task: Row, event_type: str, run_id: str | None, payload: Any) -> None:
    outcome = SCHEDULE_OUTCOMES.get(event_type)
    if outcome is not None:
        tx.after_commit.append(lambda: schedule_firings(outcome, 1, task["id"]))


def schedule_firings(outcome: str, n: int, task_id: str | None = None) -> None:
    from taskloom.metrics import metrics

    metrics().firings.labels(outcome).inc(n)
    if n:
        log.info("schedule firings: %d %s", n, outcome, extra={"fields": {
            "action": "schedule.fired", "outcome": outcome, "count": n, **({"task_id": task_id} if task_id else {})}})


def webhook_attempt(outcome: str, delivery_id: str, url: str, status_code: int | None, error: str | None) -> None:
    """delivered | retry | gave_up, counted and logged (the URL without its query string)."""
    from taskloom.metrics import metrics

    metrics().webhooks.labels(outcome).inc()
    word = {"delivered": "delivered", "retry": "will be retried", "gave_up": "gave up"}.get(outcome, outcome)
    log.info("webhook %s %s", delivery_id, word, extra={"fields": {
        "action": f"webhook.{outcome}", "delivery_id": delivery_id, "url": url.split("?", 1)[0],
        "status_code": status_code, "error": error}})
