"""Domain errors. The HTTP layer maps each class to one status code, in one place."""

from __future__ import annotations


class TaskloomError(Exception):
    status_code = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidInput(TaskloomError):
    status_code = 400


class Unprocessable(TaskloomError):
    status_code = 422


class Unauthorized(TaskloomError):
    status_code = 401


class Forbidden(TaskloomError):
    status_code = 403


class NotFound(TaskloomError):
    status_code = 404


class Conflict(TaskloomError):
    status_code = 409


class Unavailable(TaskloomError):
    status_code = 503


class TooLarge(TaskloomError):
    status_code = 413
