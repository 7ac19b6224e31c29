"""The web dashboard: one static page, no build step, reading the observe API with the
caller's own token (pasted once, kept in the browser's local storage)."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse

router = APIRouter(include_in_schema=False)


@router.get("/")
async def root() -> RedirectResponse:
    return RedirectResponse("/ui")


@router.get("/ui")
async def dashboard() -> HTMLResponse:
    page = resources.files("taskloom.dashboard").joinpath("index.html").read_text()
    return HTMLResponse(page)
