"""Queries for scheduled tasks (seed 003). Mixed into ``Tx``."""

from __future__ import annotations


class ScheduleQueries:
    pass
