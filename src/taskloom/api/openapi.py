"""The OpenAPI document tells the truth about the server (issue 13, D10).

- Every operation lists the error statuses the server can send, with the ``{"error"}``
  schema (``COMMON_ERRORS``, added to every router in one place by ``create_app``).
- FastAPI's own 422 "validation error" entry is replaced: the server answers bad input with
  400 ``{"error"}``; a 422 it does send (e.g. a channel message kind) keeps the error schema.
- The bearer JWT / API-key security schemes are declared, and required everywhere but the
  public probes.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import iter_route_contexts
from starlette.routing import compile_path

from taskloom.api.schemas import ErrorOut

_ERROR = {"model": ErrorOut}
# What any authenticated route may answer besides its own codes: bad input, bad token, refused,
# unknown id, state conflict, body too large, rate limit, database unavailable / shutting down.
COMMON_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {**_ERROR, "description": text} for code, text in (
        (400, "Bad input: the error names the field"), (401, "No, bad or expired token or key"),
        (403, "The caller's role may not do this"), (404, "Unknown id, or outside the caller's workspaces"),
        (405, "Method not allowed (the Allow header lists the allowed ones)"), (409, "Conflicts with the current state"),
        (413, "Body over TASKLOOM_MAX_BODY_BYTES"), (422, "Understood but not processable"),
        (429, "Rate limit (see Retry-After)"), (503, "Database unavailable or shutting down"))
}
PUBLIC_PATHS = ("/healthz", "/readyz")
SECURITY_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT or tlk_ API key",
               "description": "An HS256 JWT signed with TASKLOOM_JWT_SECRET, or an API key (tlk_...)"},
    "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "An API key (tlk_...)"},
}


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        spec = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        components = spec.setdefault("components", {})
        components.setdefault("securitySchemes", {}).update(SECURITY_SCHEMES)
        schemas = components.setdefault("schemas", {})
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
        spec["security"] = [{"bearer": []}, {"apiKey": []}]
        for path, operations in spec.get("paths", {}).items():
            for operation in operations.values():
                if not isinstance(operation, dict) or "responses" not in operation:
                    continue
                _fix_validation_entry(operation["responses"])
                for code, entry in operation["responses"].items():
                    if code[0] in "45" and "content" not in entry:  # a route's own description-only entry
                        entry["content"] = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}
                if path in PUBLIC_PATHS:
                    operation["security"] = []
                    operation["responses"].pop("401", None)
        app.openapi_schema = spec
        return spec

    app.openapi = openapi  # type: ignore[method-assign]


def allowed_methods(app: Any, path: str) -> list[str]:
    """Every method some route serves at ``path`` (Starlette's 405 names only the first route's)."""
    table = getattr(app.state, "route_methods", None)
    if table is None:
        table = []
        for context in iter_route_contexts(app.routes):
            regex, _, _ = compile_path(context.path or "")
            table.append((context.path or "", regex, set(context.methods or ())))
        app.state.route_methods = table
    # A path documented as it is (/api/tasks/batch) answers for its own methods, not for a
    # templated neighbour's that its text happens to fit (/api/tasks/{task_id}).
    exact = [methods for template, _, methods in table if template == path]
    matching = exact or [methods for _, regex, methods in table if regex.match(path)]
    return sorted(set().union(*matching))


def _fix_validation_entry(responses: dict[str, Any]) -> None:
    """FastAPI documents request validation as 422 HTTPValidationError; we answer 400 {"error"}."""
    entry = responses.get("422")
    if entry is None:
        return
    schema = entry.get("content", {}).get("application/json", {}).get("schema", {})
    if schema.get("$ref", "").endswith("/HTTPValidationError"):
        entry["content"]["application/json"]["schema"] = {"$ref": "#/components/schemas/ErrorOut"}
        entry["description"] = COMMON_ERRORS[422]["description"]
    responses.setdefault("400", {"description": COMMON_ERRORS[400]["description"],
                                 "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}})
