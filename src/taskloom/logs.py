"""Log set-up: one handler on the root logger, text or JSON lines, and no secrets.

TASKLOOM_LOG_FORMAT is ``text`` or ``json`` (default: text when stderr is a terminal,
json otherwise); TASKLOOM_LOG_LEVEL (default INFO) sets the level. Structured fields go
in ``extra={"fields": {...}}``; both formats show them. Whatever a line says, anything
shaped like a credential (a JWT, a ``tlk_`` API key, a ``ct_`` claim token, a bearer
header) is replaced by ``[redacted]`` before it is written.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import time
from typing import Any

import orjson

SECRET = re.compile(
    r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"  # a JWT
    r"|\btlk_[A-Za-z0-9_-]{8,}"  # an API key
    r"|\bct_[A-Za-z0-9_-]{8,}"  # a claim token
    r"|(?i:bearer)\s+[A-Za-z0-9._~+/=-]{8,}"
)


# Every match of SECRET contains one of these (the bearer test on the lower-cased text): most
# lines contain none, and four substring tests cost far less than the regex (a log line per request).
_SECRET_MARKS = ("eyJ", "tlk_", "ct_")


def redact(text: str) -> str:
    if not any(mark in text for mark in _SECRET_MARKS) and "bearer" not in text.lower():
        return text
    return SECRET.sub("[redacted]", text)


_second: tuple[int, str] = (-1, "")


def _stamp(created: float) -> str:
    global _second
    whole = int(created)
    if _second[0] != whole:  # strftime once a second, not once a line
        _second = (whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)))
    return _second[1] + f".{int(created % 1 * 1000):03d}Z"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {"ts": _stamp(record.created), "level": record.levelname.lower(),
                                "logger": record.name, "message": record.getMessage()}
        line.update(getattr(record, "fields", None) or {})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return redact(orjson.dumps(line, default=str).decode())


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", None) or {}
        extra = " ".join(f"{k}={v}" for k, v in fields.items())
        line = f"{_stamp(record.created)} {record.levelname:<7} {record.name}: {record.getMessage()}"
        if extra:
            line += " " + extra
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return redact(line)


_HANDLER: logging.Handler | None = None


def configure(fmt: str | None = None, level: str | None = None) -> None:
    """Install (or replace) the one handler on the root logger; safe to call again."""
    global _HANDLER
    fmt = (fmt or os.environ.get("TASKLOOM_LOG_FORMAT") or ("text" if sys.stderr.isatty() else "json")).lower()
    if fmt not in ("text", "json"):
        raise ValueError(f"TASKLOOM_LOG_FORMAT must be text or json, not {fmt!r}")
    level_name = (level or os.environ.get("TASKLOOM_LOG_LEVEL") or "INFO").upper()
    if not isinstance(logging.getLevelName(level_name), int):
        raise ValueError(f"TASKLOOM_LOG_LEVEL must be a level name (DEBUG, INFO, WARNING, ERROR), not {level_name!r}")
    # Neither format shows the caller's file and line, thread, process or process name: not
    # collecting them makes each record cheaper (the "Optimization" advice of the logging docs).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    root = logging.getLogger()
    if _HANDLER is not None:
        root.removeHandler(_HANDLER)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(level_name)
    _HANDLER = handler
    # uvicorn's own access log is off (Taskloom writes one line per request); its errors propagate here.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
