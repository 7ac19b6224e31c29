"""Queries for the agent registry, messages and webhooks (seed 002). Mixed into ``Tx``."""

from __future__ import annotations


class AgentQueries:
    pass
