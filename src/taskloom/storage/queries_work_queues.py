"""Queries for the work-queues API (seed 000). Mixed into ``Tx``."""

from __future__ import annotations


class WorkQueueQueries:
    pass
