"""Pure domain rules: priority scales, retry delays, state machine tables."""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path

import pytest

from taskloom.domain import states
from taskloom.domain.priority import RUNTIME_LEVELS, from_runtime, from_scale, to_runtime, to_scale
from taskloom.domain.retry import MAX_DELAY_SECONDS, retry_delay
from taskloom.domain.states import (
    RUN_LIVE,
    RUN_TERMINAL,
    RUN_TRANSITIONS,
    TASK_TERMINAL,
    TASK_TRANSITIONS,
    RunStatus,
    TaskStatus,
    sql_list,
    task_can_move,
    task_sources,
)


@pytest.mark.parametrize(("lowest", "highest"), [(1, 5), (10, 1), (9, 1)])
def test_every_api_scale_round_trips(lowest: int, highest: int) -> None:
    values = range(min(lowest, highest), max(lowest, highest) + 1)
    for v in values:
        assert to_scale(from_scale(v, lowest=lowest, highest=highest), lowest=lowest, highest=highest) == v


def test_scales_agree_on_order() -> None:
    # 5 is most urgent on the work-queue scale, 1 on the backlog scale.
    assert from_scale(5, lowest=1, highest=5) > from_scale(1, lowest=1, highest=5)
    assert from_scale(1, lowest=10, highest=1) > from_scale(10, lowest=10, highest=1)
    assert from_scale(1, lowest=10, highest=1) >= from_runtime("urgent")
    for level in RUNTIME_LEVELS:
        assert to_runtime(from_runtime(level)) == level


def test_retry_delays() -> None:
    rng = random.Random(1)
    assert retry_delay("fixed", 7, 5) == 7
    assert retry_delay("linear", 10, 3) == 30
    for attempt in range(1, 8):
        ceiling = 2 * 2 ** (attempt - 1)
        d = retry_delay("exponential_jitter", 2, attempt, rng)
        assert ceiling / 2 <= d <= ceiling
    assert retry_delay("exponential_jitter", 60, 40, rng) <= MAX_DELAY_SECONDS


def _reachable(table: dict, start: set) -> set:  # type: ignore[type-arg]
    seen, todo = set(start), list(start)
    while todo:
        for nxt in table[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_state_tables_are_connected_and_described() -> None:
    """Every state is reachable from where entities start, every open state can finish, and
    every state has its paragraph in domain/states.py. (tests/engine/test_transitions.py
    checks that storage and the engine obey the table.)"""
    assert set(TASK_TRANSITIONS) == set(TaskStatus) and set(RUN_TRANSITIONS) == set(RunStatus)
    assert _reachable(TASK_TRANSITIONS, {TaskStatus.DRAFT, TaskStatus.PENDING}) == set(TaskStatus)
    assert _reachable(RUN_TRANSITIONS, {RunStatus.QUEUED}) == set(RunStatus)
    for status in set(TaskStatus) - TASK_TERMINAL:
        assert _reachable(TASK_TRANSITIONS, {status}) & TASK_TERMINAL, status
    for status in set(RunStatus) - RUN_TERMINAL:
        assert _reachable(RUN_TRANSITIONS, {status}) & RUN_TERMINAL, status
    prose = states.__doc__ or ""
    for status in [*TaskStatus, *RunStatus]:
        assert f"- {status.value}" in prose or f" {status.value}:" in prose or f"{status.value} /" in prose, status


def test_status_lists_for_sql_follow_the_declaration_order() -> None:
    # The partial indexes in the migrations list the live states in this order.
    assert sql_list(RUN_LIVE) == "('claimed','starting','running')"
    assert task_sources(TaskStatus.PENDING) == (TaskStatus.PENDING, TaskStatus.BLOCKED,
                                                TaskStatus.READY, TaskStatus.IN_PROGRESS)
    assert not task_can_move("completed", "completed") and task_can_move("blocked", "blocked")


def test_the_state_diagrams_in_the_docs_are_drawn_from_the_table() -> None:
    script = Path(__file__).resolve().parents[2] / "scripts" / "state_diagrams.py"
    spec = importlib.util.spec_from_file_location("state_diagrams", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--check"]) == 0, "run python scripts/state_diagrams.py"
    assert "in_progress --> pending" in module.render()

def test_new_ids_are_uuid7_in_creation_order() -> None:
    """Task and run ids lead with their creation time (UUID version 7), so new rows land at the
    end of the id indexes; they stay unique and valid UUIDs."""
    import time
    import uuid

    from taskloom.domain.task_ids import new_uuid

    before = time.time_ns() // 1_000_000
    ids = [new_uuid() for _ in range(20_000)]
    after = time.time_ns() // 1_000_000
    assert len(set(ids)) == len(ids)
    parsed = [uuid.UUID(i) for i in ids]
    assert all(str(u) == i for u, i in zip(parsed, ids, strict=True))
    assert {u.version for u in parsed} == {7} and {u.variant for u in parsed} == {uuid.RFC_4122}
    assert all(before <= u.int >> 80 <= after for u in parsed)
    # Ordered but for ids drawn within the same ~244 ns (the clock fraction's resolution).
    assert sum(a < b for a, b in zip(ids, ids[1:], strict=False)) >= 0.99 * (len(ids) - 1)


def test_a_forked_process_draws_its_own_id_randomness() -> None:
    """The ids' random digits are drawn from os.urandom in bulk; a child of ``serve --workers``
    (or any fork) must not reuse the parent's undrawn ones."""
    import multiprocessing

    from taskloom.domain import task_ids

    task_ids.new_uuid()  # the pool holds undrawn digits now
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(1) as pool:
        child = pool.apply(_draws)
    assert set(child).isdisjoint(_draws())


def _draws() -> list[str]:
    from taskloom.domain import task_ids

    return [task_ids._random_hex() for _ in range(10)]
