"""Backlog id prefixes, id formatting, status and priority mapping (pure, no I/O)."""

from __future__ import annotations

import itertools

import pytest

from taskloom.domain import backlog_status as bs
from taskloom.domain.backlog_ids import (
    base_prefix,
    check_agent_id,
    format_id,
    normalize_prefix,
    prefix_candidates,
    words,
)
from taskloom.domain.errors import InvalidInput


@pytest.mark.parametrize(
    ("agent_id", "prefix"),
    [
        ("marketing-lead", "MKT"),  # the seed's examples
        ("support-bot", "SUP"),
        ("supportBot", "SUP"),  # camelCase splits into words
        ("Support_Bot", "SUP"),
        ("sales-agent", "SLS"),  # conventional abbreviation
        ("research", "RES"),  # first three letters
        ("qa-bot", "QAB"),  # short first word: letters run on
        ("a1", "AXX"),  # fewer than three letters: padded
        ("x", "XXX"),
        ("1234", "AGT"),  # no letters at all
        ("7-eleven", "ELE"),  # digits are dropped
        ("3f2a9c1e-7b1d", "FAC"),  # a UUID still gets a letter prefix
    ],
)
def test_base_prefix(agent_id: str, prefix: str) -> None:
    assert base_prefix(agent_id) == prefix


def test_words() -> None:
    assert words("marketing-lead") == ["marketing", "lead"]
    assert words("supportBotV2") == ["support", "bot", "v"]
    assert words("--") == []


def test_candidates_are_deterministic_and_distinct() -> None:
    first = list(itertools.islice(prefix_candidates("marketing-ops"), 5))
    assert first == ["MKT", "MKT2", "MKT3", "MKT4", "MKT5"]
    assert first == list(itertools.islice(prefix_candidates("marketing-ops"), 5))
    many = list(itertools.islice(prefix_candidates("support-bot"), 500))
    assert len(set(many)) == 500


def test_format_id_pads_to_three_and_keeps_counting() -> None:
    assert format_id("MKT", 1) == "MKT-001"
    assert format_id("MKT", 42) == "MKT-042"
    assert format_id("MKT", 999) == "MKT-999"
    assert format_id("MKT", 1000) == "MKT-1000"
    assert format_id("SUP2", 12345) == "SUP2-12345"


@pytest.mark.parametrize(
    ("given", "stored"), [("mkt", "MKT"), (" Ops9 ", "OPS9"), ("AB", "AB"), ("A123456789", "A123456789")]
)
def test_normalize_prefix(given: str, stored: str) -> None:
    assert normalize_prefix(given) == stored


@pytest.mark.parametrize("bad", ["", "M", "1AB", "MK-T", "ABCDEFGHIJK", "TL", "tl", "M T"])
def test_normalize_prefix_refuses(bad: str) -> None:
    with pytest.raises(InvalidInput):
        normalize_prefix(bad)


@pytest.mark.parametrize("bad", ["", "-x", "a/b", "a b", "x" * 129, "é"])
def test_agent_id_checked(bad: str) -> None:
    with pytest.raises(InvalidInput):
        check_agent_id(bad)


def test_agent_id_accepts_slugs_and_uuids() -> None:
    for ok in ("marketing-lead", "bot_1", "3f2a9c1e-7b1d-4c3e-9f00-1234567890ab", "team:agent@host.example"):
        assert check_agent_id(ok) == ok


def test_status_mapping() -> None:
    assert bs.from_core("pending") == bs.from_core("ready") == "queued"
    assert bs.from_core("in_progress") == "in_progress"
    assert bs.from_core("completed") == "complete"
    assert bs.from_core("blocked") == "blocked"
    assert bs.from_core("failed") == "failed" and bs.from_core("canceled") == "canceled"
    for status, cores in bs.CORE_STATUSES.items():
        assert all(bs.from_core(c) == status for c in cores)


def test_blocker_text() -> None:
    assert bs.blocker_text("ready", None, None) is None
    assert bs.blocker_text("blocked", "manual", "legal review") == "legal review"
    assert bs.blocker_text("blocked", "dependencies", None) == "waiting for the tasks it depends on"


def test_priority_round_trips_and_orders() -> None:
    ranks = [bs.to_rank(p) for p in range(1, 11)]
    assert ranks == sorted(ranks, reverse=True)  # 1 is the most urgent
    for p in range(1, 11):
        assert bs.from_rank(bs.to_rank(p)) == p
        lo, hi = bs.rank_range(p)
        assert lo <= bs.to_rank(p) <= hi
    # The ranges tile 0..100 with no gap or overlap.
    covered = sorted(r for p in range(1, 11) for r in range(bs.rank_range(p)[0], bs.rank_range(p)[1] + 1))
    assert covered == list(range(0, 101))
