"""Pure domain rules: priority scales, retry delays, state machine tables."""

from __future__ import annotations

import random

import pytest

from taskloom.domain.priority import RUNTIME_LEVELS, from_runtime, from_scale, to_runtime, to_scale
from taskloom.domain.retry import MAX_DELAY_SECONDS, retry_delay
from taskloom.domain.states import RUN_TERMINAL, RUN_TRANSITIONS, TASK_TRANSITIONS, RunStatus, TaskStatus


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


def test_terminal_states_have_no_exits() -> None:
    for status in RUN_TERMINAL:
        assert RUN_TRANSITIONS[status] == frozenset()
    assert RunStatus.CLAIMED in RUN_TRANSITIONS[RunStatus.QUEUED]
    assert TaskStatus.COMPLETED not in TASK_TRANSITIONS[TaskStatus.DRAFT]
    assert set(TASK_TRANSITIONS) == set(TaskStatus) and set(RUN_TRANSITIONS) == set(RunStatus)
