"""What the SDK raises, and what a handler may raise to say how its run should end."""

from __future__ import annotations


class TaskloomError(Exception):
    """The server refused a call: ``status`` is the HTTP status, ``message`` its ``{"error"}``."""

    def __init__(self, status: int, message: str):
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


class ServerUnreachable(TaskloomError):
    """No answer from the server, even after retrying (status 0)."""

    def __init__(self, url: str, detail: str):
        super().__init__(0, f"cannot reach {url}: is the server running? ({detail})")
        self.url = url


class RunCanceled(TaskloomError):
    """The run is no longer ours: it was canceled, or its lease was lost (the server said 409)."""


class NonRetryableError(Exception):
    """Raise it from a handler to fail the run without a retry (message and type are recorded)."""


class Failure(Exception):
    """Raise it from a handler to fail the run with exactly ``message`` (no type prefix)."""

    def __init__(self, message: str, *, retryable: bool = True):
        super().__init__(message)
        self.message = message
        self.retryable = retryable


class ReleaseRun(Exception):
    """Raise it from a handler to hand the run back to the queue; no attempt is spent."""

    def __init__(self, reason: str = "released by the handler"):
        super().__init__(reason)
        self.reason = reason
