"""Small helpers the routers share: the engine from the request, JSON answers."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import Depends, Request
from fastapi.responses import JSONResponse as _StarletteJSON

from taskloom.engine.engine import Engine


async def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


EngineDep = Annotated[Engine, Depends(get_engine)]


class JSONResponse(_StarletteJSON):
    """JSON rendered by orjson: the routes hand over plain dicts built by views.py. A JSON
    response class, so the OpenAPI document shows each route's response model."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def ok(body: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status)
