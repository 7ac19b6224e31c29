"""Log formatting: JSON and text lines carry the fields; credentials are redacted whatever
the message says; bad settings are refused by name."""

from __future__ import annotations

import json
import logging

import pytest

from taskloom import logs
from taskloom.api.auth import issue_token
from taskloom.engine.api_keys import new_key


def record(message: str, **fields: object) -> logging.LogRecord:
    rec = logging.LogRecord("taskloom.request", logging.INFO, __file__, 1, message, (), None)
    rec.fields = fields
    return rec


def test_json_and_text_lines_redact_credentials() -> None:
    token, key = issue_token("s" * 32, "root", role="admin"), new_key()
    message = f"saw Bearer {token} and {key} and ct_abcdefghijklmnop"
    line = json.loads(logs.JsonFormatter().format(record(message, route="/api/tasks", status=200)))
    assert line["route"] == "/api/tasks" and line["status"] == 200 and line["level"] == "info"
    text = logs.TextFormatter().format(record(message, header=key))
    for out in (json.dumps(line), text):
        assert token not in out and key not in out and "ct_abcdefghijklmnop" not in out
        assert "[redacted]" in out
    assert "route=" not in text and "header=[redacted]" in text


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="TASKLOOM_LOG_FORMAT"):
        logs.configure("xml")
    with pytest.raises(ValueError, match="TASKLOOM_LOG_LEVEL"):
        logs.configure("json", "LOUD")


@pytest.mark.parametrize("secret", [
    "BEARER abcdefgh12345678", "bearer abcdefgh12345678", "tlk_abcdefgh12345678", "ct_abcdefgh12345678",
    "eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl",
])
def test_each_kind_of_credential_is_redacted_alone(secret: str) -> None:
    # redact() skips the regex for lines without a credential's marker: each kind alone must still be caught.
    assert logs.redact(f"before {secret} after") == "before [redacted] after"
    assert logs.redact("a plain line: POST /api/tasks 201 1.2ms") == "a plain line: POST /api/tasks 201 1.2ms"


def test_timestamps_follow_the_clock_across_seconds() -> None:
    # The date part is cached per second: it must change when the second does, in both directions.
    assert logs._stamp(0.5) == "1970-01-01T00:00:00.500Z"
    assert logs._stamp(61.25) == "1970-01-01T00:01:01.250Z"
    assert logs._stamp(61.999) == "1970-01-01T00:01:01.999Z"
    assert logs._stamp(0.0) == "1970-01-01T00:00:00.000Z"
