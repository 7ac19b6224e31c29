"""The web dashboard: static HTML, CSS and ES modules shipped in the package, no build step.

Every /ui/... path answers the same page (the views route on the client, so deep links survive a
reload); /ui/assets/<file> serves the modules. The page talks to the API with the token the person
signs in with, kept in the tab's sessionStorage. A strict Content-Security-Policy forbids inline
script and every other origin.
"""

from __future__ import annotations

import re
from importlib import resources
from importlib.resources.abc import Traversable

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response

from taskloom.domain.errors import NotFound

router = APIRouter(include_in_schema=False)

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
           "Cache-Control": "no-cache"}
TYPES = {"js": "text/javascript", "css": "text/css", "png": "image/png", "svg": "image/svg+xml"}
ASSET_NAME = re.compile(r"^[a-z0-9_-]+\.(js|css|png|svg)$")


def _files() -> Traversable:
    return resources.files("taskloom.dashboard")


@router.get("/")
async def root() -> RedirectResponse:
    return RedirectResponse("/ui")


@router.get("/ui/assets/{name}")
async def asset(name: str) -> Response:
    match = ASSET_NAME.match(name)
    file = _files().joinpath("assets", name)
    if match is None or not file.is_file():
        raise NotFound(f"no such dashboard file: {name}")
    return Response(file.read_bytes(), media_type=TYPES[match.group(1)], headers=HEADERS)


@router.get("/ui")
@router.get("/ui/{view:path}")
async def page(view: str = "") -> Response:
    return Response(_files().joinpath("index.html").read_bytes(), media_type="text/html; charset=utf-8",
                    headers=HEADERS)
