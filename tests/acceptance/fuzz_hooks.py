"""Schemathesis hooks of the quick fuzz run (tests/acceptance/test_fuzz.py; not the deep one).

A long-poll's valid wait (claim-next ``wait_seconds``, dequeue/steal ``waitSeconds``, up to 30 s)
is shortened to at most 0.2 s before the request is sent: an empty queue then answers its 204 in
a moment instead of holding the whole budget. Only values the schema allows are changed, so
negative cases (a wait of 31 or -1, a string) still reach the server as generated and must get
their 400. tests/api/test_runtime_runs.py and test_work_queues.py test the full waits.
"""

from __future__ import annotations

from typing import Any

import schemathesis

WAITS = ("wait_seconds", "waitSeconds")
QUICK_WAIT = 0.2


def _shorten(body: Any) -> None:
    if not isinstance(body, dict):
        return
    for name in WAITS:
        value = body.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and QUICK_WAIT < value <= 30:
            body[name] = QUICK_WAIT


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    _shorten(case.body)
    _shorten(kwargs.get("json"))  # what is sent, if already taken from the case
