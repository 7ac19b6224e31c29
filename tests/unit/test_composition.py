"""create_app is the one composition root: services, event hooks and claim gates are wired
there, explicitly; importing a module registers nothing."""

from __future__ import annotations

import importlib
import pkgutil

import taskloom.api
from taskloom.api.app import create_app
from taskloom.config import Settings
from taskloom.engine.agent_gate import PausedAgentGate
from taskloom.engine.schedules import carry_firing
from taskloom.engine.webhooks import WebhookSender, outbox_hook


def test_create_app_wires_services_hooks_and_gates(tmp_path: object) -> None:
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path}/c.db", jwt_secret="x" * 32))
    engine = app.state.engine
    assert engine.event_hooks[:2] == (outbox_hook, carry_firing)
    assert [type(g) for g in engine.claim_gates] == [PausedAgentGate]
    assert {type(s).__name__ for s in engine.services} >= {"LeaseRescuer", WebhookSender.__name__, "Scheduler"}


def test_no_api_module_wires_itself() -> None:
    for info in pkgutil.iter_modules(taskloom.api.__path__):
        module = importlib.import_module(f"taskloom.api.{info.name}")
        assert not hasattr(module, "make_services") and not hasattr(module, "install"), info.name
