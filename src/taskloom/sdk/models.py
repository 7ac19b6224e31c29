"""Typed views of the API's answers. Each keeps the full answer in ``data``."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any


def _build(cls: Any, data: dict[str, Any]) -> Any:
    """The dataclass from an API answer: the fields it knows, the whole answer in ``data``."""
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names and k != "data"}, data=data)


@dataclass(frozen=True)
class Task:
    id: str
    title: str = ""
    identifier: str | None = None
    description: str = ""
    metadata: Any = None
    network_channel: str | None = None
    priority: str | None = None
    status: str | None = None
    result: Any = None
    error: str | None = None
    attempts: int | None = None
    max_attempts: int | None = None
    data: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Task:
        return _build(cls, data)

    @property
    def name(self) -> str:
        """The identifier people read (``TL-42``), or the id."""
        return self.identifier or self.id


@dataclass(frozen=True)
class Run:
    id: str
    task_id: str
    attempt: int = 1
    status: str | None = None
    lease_until: str | None = None
    timeout_at: str | None = None
    metadata: Any = None
    data: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Run:
        return _build(cls, data)


@dataclass(frozen=True)
class Claim:
    """A claimed run: the run, its task, and the claim token that fences our lease."""

    run: Run
    task: Task
    claim_token: str
    lease_seconds: float

    @property
    def run_id(self) -> str:
        return self.run.id

    @property
    def task_id(self) -> str:
        return self.task.id

    @classmethod
    def from_api(cls, claim: dict[str, Any], lease_seconds: float) -> Claim:
        return cls(run=Run.from_api(claim["run"]), task=Task.from_api(claim["task"]),
                   claim_token=claim["claim_token"], lease_seconds=lease_seconds)


@dataclass(frozen=True)
class Message:
    """One message of a task's conversation: an agent's question or a person's answer."""

    id: str
    sequence: int
    role: str
    message: str
    kind: str = "message"
    created_at: str | None = None
    data: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Message:
        return _build(cls, data)
