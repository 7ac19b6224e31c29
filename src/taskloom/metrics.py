"""Prometheus metrics (prometheus-client) and where each figure comes from.

- Counters and histograms are counted in the process, when the change is committed
  (``on_commit``: run transitions, HTTP requests, webhook attempts, schedule firings).
  With ``serve --workers N`` the server sets PROMETHEUS_MULTIPROC_DIR before the workers
  start, so prometheus-client's multiprocess mode adds up every worker's figures at
  scrape time, whichever worker answers /metrics.
- Gauges (queue depth, oldest age, active and stuck runs, approvals, awaiting input) and
  the usage totals are read from the database at scrape time, so they are right however
  many processes or machines share it.

Labels never carry task, run or agent ids. Channels are capped: past
TASKLOOM_METRICS_MAX_CHANNELS distinct channels, the rest count as ``other``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from taskloom.rows import Row

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
NO_CHANNEL = "none"
OTHER = "other"
RUN_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, float("inf"))
HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, float("inf"))


def multiprocess() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


class Channels:
    """Caps the channel label: the first ``limit`` channels seen keep their name."""

    def __init__(self, limit: int):
        self.limit = limit
        self.seen: set[str] = set()
        self.lock = threading.Lock()

    def label(self, channel: str | None) -> str:
        if channel is None:
            return NO_CHANNEL
        if channel in self.seen:
            return channel
        with self.lock:
            if len(self.seen) < self.limit:
                self.seen.add(channel)
                return channel
        return OTHER


class Metrics:
    def __init__(self, max_channels: int = 100):
        self.channels = Channels(max_channels)
        # In multiprocess mode the values live in files; the registry is built per scrape.
        self.registry = None if multiprocess() else CollectorRegistry()
        r = self.registry
        self.runs_claimed = Counter("taskloom_runs_claimed", "Runs claimed", ["channel"], registry=r)
        self.runs_finished = Counter("taskloom_runs_finished", "Runs that ended, by outcome",
                                     ["channel", "outcome"], registry=r)
        self.queue_wait = Histogram("taskloom_run_queue_wait_seconds", "Queued to claimed", buckets=RUN_BUCKETS,
                                    registry=r)
        self.run_duration = Histogram("taskloom_run_duration_seconds", "Claimed to finished", buckets=RUN_BUCKETS,
                                      registry=r)
        self.webhooks = Counter("taskloom_webhook_deliveries", "Webhook delivery attempts, by outcome",
                                ["outcome"], registry=r)
        self.firings = Counter("taskloom_schedule_firings", "Schedule firings, by outcome", ["outcome"], registry=r)
        self.http_requests = Counter("taskloom_http_requests", "HTTP requests", ["route", "method", "status"],
                                     registry=r)
        self.http_duration = Histogram("taskloom_http_request_duration_seconds", "HTTP request duration",
                                       ["route"], buckets=HTTP_BUCKETS, registry=r)

    # -- counted at commit -----------------------------------------------------------
    def run_transitions(self, rows: Iterable[Row]) -> None:
        # The counters are added up per label first: a batch's 100 runs are one labels().inc(100)
        # (a labels() look-up and its increment take ~2.7 us, once per run per counter before).
        claimed: dict[str, int] = {}
        finished: dict[tuple[str, str], int] = {}
        for run in rows:
            status = run["status"]
            if status == "claimed":
                label = self.channels.label(run["network_channel"])
                claimed[label] = claimed.get(label, 0) + 1
                if run["claimed_at"] is not None and run["queued_at"] is not None:
                    self.queue_wait.observe(max(0.0, run["claimed_at"] - run["queued_at"]))
            elif status in ("completed", "failed", "canceled"):
                labels = (self.channels.label(run["network_channel"]), run_outcome(run))
                finished[labels] = finished.get(labels, 0) + 1
                if run["claimed_at"] is not None and run["ended_at"] is not None:
                    self.run_duration.observe(max(0.0, run["ended_at"] - run["claimed_at"]))
        for label, n in claimed.items():
            self.runs_claimed.labels(label).inc(n)
        for labels, n in finished.items():
            self.runs_finished.labels(*labels).inc(n)

    def http(self, route: str, method: str, status: int, seconds: float) -> None:
        self.http_requests.labels(route, method, str(status)).inc()
        self.http_duration.labels(route).observe(seconds)

    # -- the scrape --------------------------------------------------------------------
    def render(self, snapshot: Row, stuck_after: float, currency: str) -> bytes:
        registry = CollectorRegistry()
        if self.registry is None:
            from prometheus_client import multiprocess as mp

            mp.MultiProcessCollector(registry)
        registry.register(_Snapshot(snapshot, self.channels.limit, currency))
        counted = generate_latest(self.registry) if self.registry is not None else b""
        return counted + generate_latest(registry)


def run_outcome(run: Row) -> str:
    """completed | failed | canceled | lease_expired | timed_out."""
    if run["status"] == "failed":
        error = run["error"] or ""
        if error.startswith("lease expired"):
            return "lease_expired"
        if error.startswith("timed out"):
            return "timed_out"
    return str(run["status"])


def _fold(rows: list[Row], value: str, limit: int) -> dict[str, float]:
    """Per-channel values, the largest ``limit`` by name, the rest summed (or maxed) into ``other``."""
    out: dict[str, float] = {}
    ranked = sorted(rows, key=lambda r: -float(r[value] or 0))
    for i, row in enumerate(ranked):
        name = NO_CHANNEL if row["channel"] is None else str(row["channel"])
        key = name if i < limit else OTHER
        if value == "oldest_age":
            out[key] = max(out.get(key, 0.0), float(row[value] or 0))
        else:
            out[key] = out.get(key, 0.0) + float(row[value] or 0)
    return out


class _Snapshot:
    """The figures read from the database for this scrape."""

    def __init__(self, snapshot: Row, limit: int, currency: str):
        self.snapshot = snapshot
        self.limit = limit
        self.currency = currency

    def collect(self) -> Iterable[Metric]:
        s = self.snapshot
        for name, doc, rows, value in (
            ("taskloom_queue_depth", "Claimable queued runs", s["queued"], "depth"),
            ("taskloom_queue_oldest_age_seconds", "Age of the oldest claimable queued run", s["queued"],
             "oldest_age"),
            ("taskloom_runs_active", "Claimed, starting or running runs", s["active"], "active"),
        ):
            family = GaugeMetricFamily(name, doc, labels=["channel"])
            for channel, v in _fold(rows, value, self.limit).items():
                family.add_metric([channel], v)
            yield family
        yield GaugeMetricFamily("taskloom_runs_stuck", "Live runs without a heartbeat for the stuck threshold",
                                value=s["stuck"])
        yield GaugeMetricFamily("taskloom_approvals_pending", "Tasks waiting for approval", value=s["approvals"])
        yield GaugeMetricFamily("taskloom_awaiting_input", "Tasks waiting for an answer", value=s["awaiting"])
        tokens = CounterMetricFamily("taskloom_usage_tokens", "Tokens reported by agents", labels=["direction"])
        tokens.add_metric(["input"], s["input_tokens"])
        tokens.add_metric(["output"], s["output_tokens"])
        yield tokens
        cost = CounterMetricFamily("taskloom_usage_cost", "Cost reported by agents", labels=["currency"])
        cost.add_metric([self.currency], s["cost"])
        yield cost


_METRICS: Metrics | None = None


def metrics(max_channels: int | None = None) -> Metrics:
    """The process's metrics (one set per process: prometheus-client's values are per process)."""
    global _METRICS
    if _METRICS is None:
        _METRICS = Metrics(max_channels or int(os.environ.get("TASKLOOM_METRICS_MAX_CHANNELS", "100")))
    return _METRICS
