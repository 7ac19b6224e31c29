"""The API reaches storage only through the engine."""

from __future__ import annotations

import ast
import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "taskloom"
COMPOSITION_ROOT = "api/app.py"


def _front_modules() -> list[Path]:
    return sorted([*SRC.glob("api/*.py"), *SRC.glob("mcp_server/*.py")])


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_no_api_module_imports_storage_but_the_composition_root() -> None:
    offenders = [str(p.relative_to(SRC)) for p in _front_modules()
                 if str(p.relative_to(SRC)) != COMPOSITION_ROOT
                 and any(m == "taskloom.storage" or m.startswith("taskloom.storage.") for m in _imports(p))]
    assert not offenders, f"import from the engine (or taskloom.rows), not taskloom.storage: {offenders}"


def test_api_modules_call_engine_functions_not_queries() -> None:
    query_call = re.compile(r"\btx\.[a-z_]+\b")
    offenders = sorted(str(p.relative_to(SRC)) for p in _front_modules() if query_call.search(p.read_text()))
    assert not offenders, f"compose reads in engine/ (read models), not over a transaction here: {offenders}"


# What the engine may use of storage: the protocols it types against, the Storage interface
# (engine.py runs operations in its transactions) and the migration list (readiness).
ENGINE_STORAGE_IMPORTS = {"taskloom.storage.protocols", "taskloom.storage.base", "taskloom.storage.migrations"}


def test_engine_types_against_the_storage_protocols_not_the_backends() -> None:
    offenders = {str(p.relative_to(SRC)): sorted(bad) for p in sorted(SRC.glob("engine/*.py"))
                 if (bad := {m for m in _imports(p) if m.startswith("taskloom.storage")} - ENGINE_STORAGE_IMPORTS)}
    assert not offenders, f"the engine depends on storage/protocols.py, not on SQL or a backend: {offenders}"


def test_request_bodies_share_one_base() -> None:
    """One pydantic base for request bodies (api/schemas.py: Body): unknown fields and booleans for
    numbers are refused alike in every API family."""
    offenders = []
    for path in _front_modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and any(ast.unparse(b) == "BaseModel" for b in node.bases) and (
                    node.name == "Body" and path.name != "schemas.py"):
                offenders.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert not offenders, f"derive request bodies from api.schemas.Body: {offenders}"


def test_api_modules_never_name_the_transaction_type() -> None:
    """Routes and MCP tools hand engine operations to ``Engine.read``/``write`` as lambdas (their
    ``tx`` is typed by the engine) and compose them with ``context.then`` or
    ``authorization.when_may_change``: they never name ``Tx``, so they cannot grow queries of their own."""
    offenders = []
    for path in _front_modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Name) and node.id == "Tx") or (
                    isinstance(node, ast.alias) and node.name.split(".")[-1] == "Tx"):
                offenders.append(f"{path.relative_to(SRC)}:{getattr(node, 'lineno', '?')}")
    assert not offenders, f"api/ and mcp_server/ must not name Tx: {offenders}"
    from taskloom.engine import context
    assert "Tx" not in getattr(context, "__all__", ()), "engine/context.py does not re-export Tx"
