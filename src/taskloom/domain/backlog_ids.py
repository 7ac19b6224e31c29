"""Backlog task ids (seed 001): ``{PREFIX}-{NNN}``, with a prefix per agent. Pure, no I/O.

The prefix rule (documented in docs/api/backlogs.md):

1. Split the agent id into words at every character that is not a letter or
   digit, and between a lower-case and an upper-case letter (``supportBot`` is
   ``support`` + ``bot``). Only ASCII letters count; digits are dropped.
2. If the first word is a common role word with a conventional abbreviation
   (``ABBREVIATIONS``: marketing → MKT, sales → SLS, ...), that is the base.
3. Otherwise the base is the first three letters of the agent id's words, in
   order (``support-bot`` → SUP, ``qa-bot`` → QAB); an id with fewer than three
   letters is padded with ``X`` (``a1`` → AXX), and one with no letter at all
   gets ``AGT``.
4. Prefixes are unique across agents. If the base is already held by another
   agent, the candidates are tried in this order: ``BASE2``, ``BASE3``, ...
   (``marketing-ops`` after ``marketing-lead`` took MKT gets ``MKT2``).

An explicit prefix (``PUT /api/backlogs/{agent_id}/prefix``) is 2 to 10
characters, a letter then letters or digits, stored upper-case. ``TL`` is
reserved: the runtime API numbers its tasks ``TL-1``, ``TL-2``, ...

Numbers count per agent from 1, zero-padded to three digits, and keep going
past 999 (``MKT-1000``); the counter never goes back, so a deleted id is never
handed out again.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from taskloom.domain.errors import InvalidInput

ABBREVIATIONS = {
    "marketing": "MKT",
    "management": "MGT",
    "manager": "MGR",
    "sales": "SLS",
    "product": "PRD",
    "project": "PRJ",
    "quality": "QA",
    "customer": "CST",
    "assistant": "AST",
    "legal": "LGL",
}
RESERVED = frozenset({"TL"})
PREFIX_RE = re.compile(r"^[A-Z][A-Z0-9]{1,9}$")
AGENT_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$")
_WORD_SPLIT = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z])(?=[A-Z])")


def check_agent_id(agent_id: str) -> str:
    if not AGENT_ID_RE.match(agent_id):
        raise InvalidInput(
            "agent_id must be 1-128 characters: letters, digits and . _ : @ - (starting with a letter or digit)"
        )
    return agent_id


def words(agent_id: str) -> list[str]:
    """The agent id's words, lower-case, letters only (empty words dropped)."""
    out = []
    for part in _WORD_SPLIT.split(agent_id):
        letters = "".join(c for c in part.lower() if "a" <= c <= "z")
        if letters:
            out.append(letters)
    return out


def base_prefix(agent_id: str) -> str:
    found = words(agent_id)
    if not found:
        return "AGT"
    if found[0] in ABBREVIATIONS:
        return ABBREVIATIONS[found[0]]
    letters = "".join(found)[:3].upper()
    return letters.ljust(3, "X")


def prefix_candidates(agent_id: str) -> Iterator[str]:
    """The prefixes to try for ``agent_id``, best first: BASE, BASE2, BASE3, ..."""
    base = base_prefix(agent_id)
    yield base
    n = 2
    while True:
        yield f"{base}{n}"
        n += 1


def normalize_prefix(value: str) -> str:
    """An explicit prefix, upper-cased and checked."""
    prefix = value.strip().upper()
    if not PREFIX_RE.match(prefix):
        raise InvalidInput("prefix must be 2-10 characters: a letter, then letters or digits (e.g. MKT)")
    if prefix in RESERVED:
        raise InvalidInput(f"prefix {prefix} is reserved: the runtime API numbers its tasks {prefix}-1, {prefix}-2")
    return prefix


def format_id(prefix: str, number: int) -> str:
    """``MKT`` + 7 → ``MKT-007``; four digits and more are written as they are."""
    return f"{prefix}-{number:03d}"
