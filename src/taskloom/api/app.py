"""The ASGI application: routers, error mapping, body limit, engine lifecycle."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from taskloom import __version__
from taskloom.api.deps import JSONResponse
from taskloom.api.docs import install_docs
from taskloom.api.family_responses import HealthOut, NotReadyOut, ReadyOut
from taskloom.api.fast_path import FastPath
from taskloom.api.limits import RateLimit, RequestGuard
from taskloom.api.observability import install_observability
from taskloom.api.openapi import COMMON_ERRORS, allowed_methods, install_openapi
from taskloom.api.shutdown import drain_on_signal
from taskloom.api.task_refs import TaskRefs
from taskloom.clock import Clock
from taskloom.config import Settings
from taskloom.domain.errors import TaskloomError
from taskloom.engine import schedules as schedule_ops
from taskloom.engine import webhooks
from taskloom.engine.agent_gate import PausedAgentGate
from taskloom.engine.context import EventHook
from taskloom.engine.engine import Engine, Service
from taskloom.engine.health import readiness
from taskloom.engine.observe import schedule_outcome_hook
from taskloom.engine.rescuer import LeaseRescuer
from taskloom.engine.retention import RetentionService
from taskloom.engine.scheduler import Scheduler, interval_from_env
from taskloom.engine.webhooks import WebhookSender
from taskloom.gc_tuning import tune_for_serving
from taskloom.mcp_server import http as mcp_http
from taskloom.storage import open_storage

log = logging.getLogger("taskloom.api")


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body",)]
        where = ".".join(loc) or "body"
        if err.get("type") == "json_invalid":
            return f"malformed JSON body: {err.get('ctx', {}).get('error', err.get('msg'))}"
        if err.get("type") == "extra_forbidden":
            parts.append(f"{where}: unknown field")
        elif err.get("type") == "missing" and where == "body":
            parts.append("a JSON body is required")
        else:
            parts.append(f"{where}: {str(err.get('msg')).removeprefix('Value error, ')}")
    return "invalid request: " + "; ".join(parts)


def create_app(settings: Settings, *, clock: Clock | None = None, services: list[Service] | None = None,
               run_services: bool = True, serving: bool = False) -> FastAPI:
    """The composition root: the one place that builds the storage, the engine with its
    background services, event hooks and claim gates, and the HTTP app around them.
    ``services`` adds services (tests); ``run_services=False`` keeps their loops off;
    ``serving``: the app of a server process, which tunes the garbage collector once started."""
    storage = open_storage(settings.database_url)
    scheduler_interval = float(settings.extra.get("scheduler_interval_seconds") or interval_from_env())
    all_services: list[Service] = [
        LeaseRescuer(settings.rescuer_interval_seconds),  # takes back lapsed leases, expires deadlines
        WebhookSender(settings),  # delivers the outbox the webhook hook writes
        Scheduler(scheduler_interval),  # fires due schedules
        RetentionService(settings.retention_days, settings.retention_interval_seconds),
        *(services or []),
    ]
    # Run inside the transaction that appends each event, in this order.
    event_hooks: list[EventHook] = [webhooks.outbox_hook, schedule_ops.carry_firing]
    if settings.metrics_enabled:
        event_hooks.append(schedule_outcome_hook)
    engine = Engine(storage, clock, services=all_services, event_hooks=event_hooks,
                    claim_gates=[PausedAgentGate()], write_timeout_seconds=settings.write_timeout_seconds)
    families = _api_families()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        storage.migrate()
        await engine.start(run_services=run_services)
        restore_signals = drain_on_signal(engine)
        if serving:
            tune_for_serving()  # taskloom/gc_tuning.py
        try:
            async with mcp.running():  # /mcp: its SDK session manager, started on first use
                yield
        finally:
            restore_signals()
            await engine.stop(timeout=max(1.0, settings.shutdown_seconds / 4))

    app = FastAPI(
        title="Taskloom",
        version=__version__,
        description="A durable task runtime for teams of AI agents. Every endpoint but /healthz, /readyz and the docs"
                    " needs a bearer JWT or an API key (Authorization: Bearer, or X-API-Key).",
        lifespan=lifespan,
        # Off unless asked for: FastAPI otherwise looks up the global OpenTelemetry providers on
        # every request (about 3 % of a claim's CPU), and Taskloom has its own metrics and logs.
        telemetry=None if settings.opentelemetry else {"tracing": False, "metrics": False, "logs": False},
        default_response_class=JSONResponse,
        docs_url=None, redoc_url=None,  # /docs is served offline by api/docs.py
    )
    install_docs(app)
    app.state.settings = settings
    app.state.engine = engine
    app.state.serving = serving  # a server process (taskloom serve): the collector is tuned at start-up

    @app.exception_handler(TaskloomError)
    async def _domain_error(request: Request, exc: TaskloomError) -> JSONResponse:
        return error(exc.status_code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error(400, _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        if exc.status_code == 404 and message == "Not Found":
            message = f"no such endpoint: {request.method} {request.url.path}"
        if exc.status_code == 405:
            message = f"method {request.method} not allowed on {request.url.path}"
        response = error(exc.status_code, message)
        response.headers.update(exc.headers or {})
        if exc.status_code == 405:
            response.headers["Allow"] = ", ".join(allowed_methods(request.app, request.url.path))
        return response

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error(500, "internal error")

    @app.get("/healthz", tags=["health"], response_model=HealthOut)
    async def healthz() -> dict[str, Any]:
        """Liveness: 200 with the version and backend while the process answers. No token needed; use /readyz to decide
        on traffic."""
        return {"status": "ok", "version": __version__, **storage.describe()}

    @app.get("/readyz", tags=["health"], response_model=ReadyOut,
             responses={503: {"model": NotReadyOut, "description": "Not ready: the problems, e.g. a stuck write"}})
    async def readyz() -> JSONResponse:
        """Readiness: 200 when the database answers, every migration is applied and no write is stuck; 503 with the
        problems otherwise (also while shutting down). No token needed."""
        # An orchestrator probes it; the checks are in engine/health.py.
        problems = await readiness(engine)
        if problems:
            return JSONResponse({"error": "; ".join(problems), "problems": problems}, status_code=503)
        return JSONResponse({"status": "ready"})

    for module in families:
        app.include_router(module.router, responses=COMMON_ERRORS)  # every error status, in one place
    mcp = mcp_http.mount(app, engine, settings)
    app.add_middleware(FastPath, fastapi_app=app)  # the hot routes without the router walk (api/fast_path.py)
    app.add_middleware(TaskRefs)  # {task_id} paths also take identifiers (TL-42): swapped for ids before routing
    app.add_middleware(RequestGuard, limit=settings.max_body_bytes)  # body size, JSON numbers (api/limits.py)
    if settings.rate_limit_per_second > 0:
        app.add_middleware(RateLimit, engine=engine, per_second=settings.rate_limit_per_second,
                           burst=settings.rate_limit_burst)
    install_openapi(app)
    install_observability(app, engine, settings)  # request logs (outermost), metrics, /metrics
    return app


def app_from_env() -> FastAPI:
    """The app of one worker process of ``taskloom serve --workers N`` (settings from the environment)."""
    from taskloom import logs

    logs.configure()
    settings = Settings.from_env()
    if not settings.jwt_secret:
        raise RuntimeError("TASKLOOM_JWT_SECRET must be set for worker processes")
    return create_app(settings, serving=True)


def _api_families() -> list[Any]:
    """The API family modules, each with a ``router``. Background services, event hooks and
    claim gates are wired in ``create_app``, never by a family module itself."""
    import importlib

    modules = []
    names = ("runtime", "runs", "observe", "work_queues", "backlogs", "agents", "agent_tasks", "schedules", "dashboard",
             "keys", "usage", "channels", "supervision", "output", "budgets", "batches")
    for name in names:
        try:
            module = importlib.import_module(f"taskloom.api.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"taskloom.api.{name}":
                raise
            continue
        for wiring in ("make_services", "install"):
            if hasattr(module, wiring):
                raise RuntimeError(f"taskloom.api.{name}.{wiring}: wire services, hooks and gates in create_app")
        modules.append(module)
    return modules
