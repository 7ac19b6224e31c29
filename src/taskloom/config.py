"""Settings, read from the environment (and the CLI, which sets the same names)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field


def _float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return default if value in (None, "") else float(value)


@dataclass
class Settings:
    database_url: str = ""
    data_dir: str = "taskloom-data"
    jwt_secret: str | None = None
    max_body_bytes: int = 1024 * 1024
    sse_keepalive_seconds: float = 15.0
    rescuer_interval_seconds: float = 1.0
    stuck_after_seconds: float = 600.0
    backlog_threshold_seconds: float = 300.0
    stale_after_seconds: float = 300.0
    webhook_allow_private: bool = False  # deprecated alias: loopback and private ranges, never link-local
    webhook_allowed_hosts: str = ""  # comma list of names, IPs and CIDRs allowed to receive webhooks
    # Seed 002 (agent tasks): default run timeout and webhook delivery policy.
    agent_default_timeout_seconds: float = 3600.0
    webhook_retry_period_seconds: float = 86_400.0
    webhook_backoff_base_seconds: float = 5.0
    webhook_timeout_seconds: float = 10.0
    webhook_poll_seconds: float = 0.5
    # A write function running longer than this is logged and makes /readyz answer 503.
    write_timeout_seconds: float = 5.0
    # Per-caller token bucket (off at 0): requests per second and burst, per server process.
    rate_limit_per_second: float = 0.0
    rate_limit_burst: float = 20.0
    # Operations (issue #12).
    shutdown_seconds: float = 10.0
    # /mcp Host/Origin checks: comma-separated host[:port] patterns ("name:*"); empty = off.
    mcp_allowed_hosts: str = ""
    retention_days: float = 30.0  # 0 keeps everything
    retention_interval_seconds: float = 60.0
    metrics_enabled: bool = True
    metrics_public: bool = False
    metrics_max_channels: int = 100
    opentelemetry: bool = False  # FastAPI's native OpenTelemetry spans/metrics (needs an SDK installed)
    cost_currency: str = "USD"
    extra: dict[str, str] = field(default_factory=dict)

    def apply_to_env(self) -> None:
        """Export the settings that ``from_env`` reads (for worker processes)."""
        os.environ["TASKLOOM_DATABASE_URL"] = self.database_url
        os.environ["TASKLOOM_DATA_DIR"] = self.data_dir
        if self.jwt_secret:
            os.environ["TASKLOOM_JWT_SECRET"] = self.jwt_secret

    @classmethod
    def from_env(cls) -> Settings:
        data_dir = os.environ.get("TASKLOOM_DATA_DIR", "taskloom-data")
        url = os.environ.get("TASKLOOM_DATABASE_URL") or f"sqlite:///{os.path.join(data_dir, 'taskloom.db')}"
        return cls(
            database_url=url,
            data_dir=data_dir,
            jwt_secret=os.environ.get("TASKLOOM_JWT_SECRET") or None,
            max_body_bytes=int(_float("TASKLOOM_MAX_BODY_BYTES", 1024 * 1024)),
            sse_keepalive_seconds=_float("TASKLOOM_SSE_KEEPALIVE_SECONDS", 15.0),
            rescuer_interval_seconds=_float("TASKLOOM_RESCUER_INTERVAL_SECONDS", 1.0),
            stuck_after_seconds=_float("TASKLOOM_STUCK_AFTER_SECONDS", 600.0),
            backlog_threshold_seconds=_float("TASKLOOM_BACKLOG_THRESHOLD_SECONDS", 300.0),
            stale_after_seconds=_float("TASKLOOM_STALE_AFTER_SECONDS", 300.0),
            webhook_allow_private=os.environ.get("TASKLOOM_WEBHOOK_ALLOW_PRIVATE", "") in ("1", "true", "yes"),
            webhook_allowed_hosts=os.environ.get("TASKLOOM_WEBHOOK_ALLOWED_HOSTS", ""),
            agent_default_timeout_seconds=_float("TASKLOOM_AGENT_DEFAULT_TIMEOUT_SECONDS", 3600.0),
            webhook_retry_period_seconds=_float("TASKLOOM_WEBHOOK_RETRY_PERIOD_SECONDS", 86_400.0),
            webhook_backoff_base_seconds=_float("TASKLOOM_WEBHOOK_BACKOFF_BASE_SECONDS", 5.0),
            webhook_timeout_seconds=_float("TASKLOOM_WEBHOOK_TIMEOUT_SECONDS", 10.0),
            webhook_poll_seconds=_float("TASKLOOM_WEBHOOK_POLL_SECONDS", 0.5),
            write_timeout_seconds=_float("TASKLOOM_WRITE_TIMEOUT_SECONDS", 5.0),
            rate_limit_per_second=_float("TASKLOOM_RATE_LIMIT_PER_SECOND", 0.0),
            rate_limit_burst=_float("TASKLOOM_RATE_LIMIT_BURST", 20.0),
            shutdown_seconds=_float("TASKLOOM_SHUTDOWN_SECONDS", 10.0),
            mcp_allowed_hosts=os.environ.get("TASKLOOM_MCP_ALLOWED_HOSTS", ""),
            retention_days=_float("TASKLOOM_RETENTION_DAYS", 30.0),
            retention_interval_seconds=_float("TASKLOOM_RETENTION_INTERVAL_SECONDS", 60.0),
            metrics_enabled=os.environ.get("TASKLOOM_METRICS", "1") not in ("0", "false", "no", "off"),
            metrics_public=os.environ.get("TASKLOOM_METRICS_PUBLIC", "") in ("1", "true", "yes"),
            metrics_max_channels=int(_float("TASKLOOM_METRICS_MAX_CHANNELS", 100)),
            opentelemetry=os.environ.get("TASKLOOM_OPENTELEMETRY", "") in ("1", "true", "yes"),
            cost_currency=os.environ.get("TASKLOOM_COST_CURRENCY") or "USD",
        )
