"""Queries for the per-agent backlogs API (seed 001). Mixed into ``Tx``."""

from __future__ import annotations


class BacklogQueries:
    pass
