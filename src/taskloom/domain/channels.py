"""Coordination channels (seed 004): one per run, derived from the run, so claims pay nothing."""

from __future__ import annotations

# Kinds a message may have; anything else is refused with 422.
MESSAGE_KINDS = ("note", "question", "answer", "handoff", "status")
PURPOSE = "Coordination between the agent holding this run and the people and agents on its task"


def channel_id(run_id: str) -> str:
    return f"cc_{run_id}"


def channel_name(run_id: str) -> str:
    return f"run:{run_id}"
