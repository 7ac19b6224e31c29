"""FastAPI's native OpenTelemetry hook is off unless TASKLOOM_OPENTELEMETRY asks for it: left on,
FastAPI looks up the global providers on every request (a cost on the agent hot path)."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry import trace

from taskloom.config import Settings
from tests.api.helpers import create
from tests.conftest import ApiFactory


def _lookups(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = trace.get_tracer_provider

    def counted() -> Any:
        calls.append(1)
        return real()

    monkeypatch.setattr(trace, "get_tracer_provider", counted)
    return calls


def test_off_by_default_no_provider_lookup_per_request(make_api: ApiFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    api = make_api()
    calls = _lookups(monkeypatch)
    create(api)
    assert api.get("/healthz").status_code == 200
    assert calls == []


def test_on_when_asked(make_api: ApiFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    api = make_api(opentelemetry=True)
    calls = _lookups(monkeypatch)
    assert api.get("/healthz").status_code == 200
    assert calls, "FastAPI's telemetry should consult the OpenTelemetry providers when enabled"


def test_setting_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TASKLOOM_OPENTELEMETRY", "1")
    assert Settings.from_env().opentelemetry is True
    monkeypatch.delenv("TASKLOOM_OPENTELEMETRY")
    assert Settings.from_env().opentelemetry is False
