"""Schedule arithmetic for the scheduled-tasks API (seed 003). Pure: ``now`` is an argument.

Kinds: ``cron`` (5-field cron via croniter), ``rrule`` (RFC 5545 via python-dateutil),
``once`` (an ISO 8601 instant) and ``event`` (fires on ``POST /events``; no clock).

Bounds (no input may hold the writer): a rule with ``INTERVAL`` below 1 is refused; the
search for the next occurrence stops at a horizon of 10 years or 100,000 candidates,
whichever comes first, and within a CPU-time budget (``CPU_BUDGET_SECONDS``). A rule
with no occurrence inside those bounds is refused with 400 "no occurrence within ...".
Request-time validation runs before the write transaction, never inside it.

Time zones and daylight saving (one rule for every kind):
schedules are evaluated in *wall-clock* time of their IANA timezone, and each
wall-clock occurrence is then turned into an instant:
- a wall time that does not exist (spring-forward gap, e.g. 02:30 in
  Europe/Chisinau on the last Sunday of March) fires at the first valid instant
  after the gap (03:00 local). Several wall times inside one gap collapse into
  that single instant: it fires once, never skipped.
- a wall time that exists twice (fall-back, e.g. 02:30 on the last Sunday of
  October) fires once, at its first occurrence (summer time). The repeated
  hour does not fire again, so a daily 02:30 job never runs twice.
"""

from __future__ import annotations

import fnmatch
import logging
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import lru_cache
from types import FrameType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadCronError, CroniterBadDateError, CroniterNotAlphaError, croniter
from dateutil.rrule import rrulestr

from taskloom.domain.errors import InvalidInput
from taskloom.domain.times import iso as iso  # re-exported: callers use schedules.iso

KINDS = ("cron", "rrule", "once", "event")
MAX_EXPR = 2000
# Safety net for loops over occurrences (a gap or a repeated hour needs at most a few dozen).
_MAX_STEPS = 5000
HORIZON_YEARS = 10
HORIZON_SECONDS = HORIZON_YEARS * 366 * 86_400
MAX_CANDIDATES = 100_000
CPU_BUDGET_SECONDS = 0.5
_INTERVAL = re.compile(r"INTERVAL\s*=\s*([^;\s]*)", re.IGNORECASE)
log = logging.getLogger("taskloom.schedules")


class NoOccurrence(Exception):
    """The search for the next occurrence hit one of its bounds; the text says which."""


class _OutOfTime(BaseException):
    """Raised into the budgeted code; a BaseException, so no ``except Exception`` in a
    library swallows it. ``cpu_budget`` turns it into NoOccurrence."""


# -- the CPU-time budget -------------------------------------------------------------------


@contextmanager
def cpu_budget(seconds: float = CPU_BUDGET_SECONDS) -> Iterator[None]:
    """Raise NoOccurrence in this thread once it has spent ``seconds`` of CPU inside the block.

    dateutil and croniter are pure Python and can loop without yielding (a filter that never
    matches), so the check rides on the interpreter's call events: every function call in
    the block looks at the thread's CPU clock. Nested budgets keep the outer deadline.
    """
    if getattr(sys.gettrace(), "_taskloom_budget", False):
        yield
        return
    deadline = time.thread_time() + seconds

    def tracer(frame: FrameType, event: str, arg: Any) -> None:
        if time.thread_time() > deadline:
            raise _OutOfTime

    tracer._taskloom_budget = True  # type: ignore[attr-defined]
    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        yield
    except _OutOfTime:
        raise NoOccurrence(f"computing it took more than {seconds:g} s of CPU") from None
    finally:
        sys.settrace(previous)
_DTSTART = re.compile(r"^DTSTART(?P<params>;[^:]*)?:(?P<value>\S+)\s*$", re.IGNORECASE | re.MULTILINE)


def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name`` or InvalidInput naming the field."""
    return _zone(name)


@lru_cache(maxsize=512)
def _zone(name: str) -> ZoneInfo:
    if not isinstance(name, str) or not name.strip() or ".." in name or name.startswith("/"):
        raise InvalidInput(f"timezone: {name!r} is not an IANA timezone (e.g. Europe/Chisinau)")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise InvalidInput(f"timezone: unknown IANA timezone {name!r} (e.g. Europe/Chisinau, UTC)") from exc


# -- wall clock <-> instants ------------------------------------------------------------


def wall_time(ts: float, tz: ZoneInfo) -> datetime:
    """The naive local wall-clock time of instant ``ts`` in ``tz``."""
    return datetime.fromtimestamp(ts, tz).replace(tzinfo=None)


def instant(naive: datetime, tz: ZoneInfo) -> float:
    """Epoch seconds of local wall time ``naive`` under the DST rule in the module doc."""
    ts = naive.replace(tzinfo=tz, fold=0).timestamp()
    if wall_time(ts, tz) == naive:
        return ts  # exists; an ambiguous time resolves to fold=0, its first occurrence
    # In a gap: find the transition, the first second whose wall time is past ``naive``.
    other = naive.replace(tzinfo=tz, fold=1).timestamp()
    lo, hi = int(min(ts, other)), int(max(ts, other)) + 1
    while lo < hi:
        mid = (lo + hi) // 2
        if wall_time(mid, tz) > naive:
            hi = mid
        else:
            lo = mid + 1
    return float(lo)


# -- parsing / validation ----------------------------------------------------------------

# What parsing or arithmetic on a date, rule, cron or zone may raise for bad input.
_PARSE_ERRORS = (ValueError, TypeError, KeyError, IndexError, OverflowError, OSError, ArithmeticError)


def parse_cron(expr: str) -> str:
    text = " ".join(expr.split())
    if not text.startswith("@") and len(text.split(" ")) != 5:
        raise InvalidInput(
            f"schedule_expr: a cron expression has 5 fields (minute hour day month weekday), got {expr!r}"
        )
    try:
        croniter(text, datetime(2000, 1, 1))
    except (CroniterBadCronError, CroniterNotAlphaError, ValueError, KeyError) as exc:
        raise InvalidInput(f"schedule_expr: invalid cron expression {expr!r}: {exc}") from exc
    return text


def _dtstart_zone(expr: str) -> str | None:
    """The zone a DTSTART line names: a TZID, 'UTC' for a trailing Z, None when floating."""
    m = _DTSTART.search(expr)
    if not m:
        return None
    params = m.group("params") or ""
    tzid = re.search(r"TZID=([^;:]+)", params, re.IGNORECASE)
    if tzid:
        return tzid.group(1).strip()
    return "UTC" if m.group("value").upper().endswith("Z") else None


def _rule(expr: str, tz_name: str, anchor: float) -> Any:
    """A dateutil rruleset. Without DTSTART the rule starts at ``anchor`` (the schedule's
    creation, in local wall time, whole seconds)."""
    for value in _INTERVAL.findall(expr):
        if not value.strip().isdigit() or int(value) < 1:
            raise InvalidInput(f"schedule_expr: INTERVAL must be a whole number of at least 1, got {value!r}")
    tz = zone(tz_name)
    has_dtstart = _DTSTART.search(expr) is not None
    start = wall_time(float(int(anchor)), tz)
    try:
        if has_dtstart:
            return rrulestr(expr, forceset=True, tzinfos=lambda name, offset: zone(name) if name else None)
        try:
            return rrulestr(expr, forceset=True, dtstart=start)
        except ValueError as exc:
            if "UNTIL" not in str(exc):
                raise
            # UNTIL in UTC needs an aware start (RFC 5545): run the rule in the schedule's zone.
            return rrulestr(expr, forceset=True, dtstart=start.replace(tzinfo=tz))
    except InvalidInput:
        raise
    except _PARSE_ERRORS as exc:
        raise InvalidInput(f"schedule_expr: invalid RRULE {expr!r}: {exc}") from exc


def parse_once(expr: str, tz: ZoneInfo) -> float:
    """An ISO 8601 time: with an offset or Z it is absolute, without one it is local to ``tz``."""
    text = expr.strip()
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise InvalidInput(
            f"schedule_expr: a once schedule needs an ISO 8601 time such as 2030-01-31T09:00:00, got {expr!r}"
        ) from exc
    try:
        if value.tzinfo is not None:
            return value.timestamp()
        return instant(value, tz)
    except _PARSE_ERRORS as exc:  # e.g. 9999-12-31T23:59:59 west of UTC is in year 10000
        raise InvalidInput(f"schedule_expr: the once time {text!r} is out of range: {exc}") from exc


def validate(kind: str, expr: str | None, timezone: str | None, now: float, anchor: float | None = None
             ) -> tuple[str | None, str, float | None]:
    """Check a schedule; return (normalised expr, timezone, first next_run_at).

    Raises InvalidInput naming the field: unknown kind, missing/unparsable expr,
    unknown timezone, a once time in the past, a rule with no occurrence within the
    bounds (10 years, 100,000 candidates, ``CPU_BUDGET_SECONDS`` of CPU). Bounded: call
    it before a write transaction, never inside one.
    """
    try:
        with cpu_budget():
            return _validate(kind, expr, timezone, now, anchor)
    except NoOccurrence as exc:
        raise InvalidInput(f"schedule_expr: no occurrence within the search bounds: {exc}") from exc
    except InvalidInput:
        raise
    except _PARSE_ERRORS as exc:
        raise InvalidInput(f"schedule_expr: cannot compute the next occurrence of {expr!r}: {exc}") from exc


def _validate(kind: str, expr: str | None, timezone: str | None, now: float, anchor: float | None
              ) -> tuple[str | None, str, float | None]:
    if kind not in KINDS:
        raise InvalidInput(f"schedule_kind: must be one of {', '.join(KINDS)}, got {kind!r}")
    if expr is not None and len(expr) > MAX_EXPR:
        raise InvalidInput(f"schedule_expr: longer than {MAX_EXPR} characters")
    if kind == "event":
        text = (expr or "").strip() or "*"
        return text, timezone or "UTC", None
    if expr is None or not expr.strip():
        raise InvalidInput(f"schedule_expr is required for schedule_kind {kind!r}")
    if kind == "rrule":
        named = _dtstart_zone(expr)
        if named is not None:
            zone(named)
            if timezone is None:
                timezone = named
            elif named != timezone:
                raise InvalidInput(
                    f"schedule_expr: DTSTART is in {named} but timezone is {timezone}: make them agree"
                )
    tz_name = timezone or "UTC"
    tz = zone(tz_name)
    if kind == "cron":
        expr = parse_cron(expr)
    elif kind == "once":
        at = parse_once(expr, tz)
        if at <= now:
            raise InvalidInput(f"schedule_expr: the once time {expr.strip()} is in the past")
        return expr.strip(), tz_name, at
    else:
        expr = expr.strip()
        _rule(expr, tz_name, anchor if anchor is not None else now)
    nxt = _next(kind, expr, tz_name, now, anchor if anchor is not None else now, MAX_CANDIDATES)
    if nxt is None:
        raise InvalidInput(f"schedule_expr: {expr!r} has no occurrence within {HORIZON_YEARS} years from now")
    return expr, tz_name, nxt


# -- next firing -------------------------------------------------------------------------


def next_fire(kind: str, expr: str | None, tz_name: str, after: float, anchor: float = 0.0) -> float | None:
    """The first firing instant strictly after ``after``, or None (once spent, rule exhausted,
    event, nothing within the horizon, or out of CPU budget: a stored rule that cannot be
    computed stops firing and is logged instead of holding the writer)."""
    if kind == "event":
        return None
    if kind == "once":
        at = parse_once(expr or "", zone(tz_name))
        return at if at > after else None
    try:
        with cpu_budget():
            return _next(kind, expr or "", tz_name, after, anchor, None)
    except (NoOccurrence, *_PARSE_ERRORS) as exc:
        log.warning("schedule %s %r (%s): no next occurrence after %s: %s", kind, expr, tz_name, iso(after), exc)
        return None


def _next(kind: str, expr: str | None, tz_name: str, after: float, anchor: float, candidates: int | None
          ) -> float | None:
    if kind == "once":
        at = parse_once(expr or "", zone(tz_name))
        return at if at > after else None
    return _next_cached(kind, expr or "", tz_name, float(after), float(int(anchor)) if kind == "rrule" else 0.0,
                        candidates)


@lru_cache(maxsize=4096)
def _next_cached(kind: str, expr: str, tz_name: str, after: float, anchor: float, candidates: int | None
                 ) -> float | None:
    tz = zone(tz_name)
    horizon = after + HORIZON_SECONDS
    # Walk wall-clock occurrences from the wall time of ``after``; in a repeated hour the
    # first candidates map to instants already passed, so keep the first one past ``after``.
    start = wall_time(after, tz)
    if kind == "cron":
        try:
            it = croniter(expr, start)
            for _ in range(_MAX_STEPS):
                ts = instant(it.get_next(datetime), tz)
                if ts > horizon:
                    return None
                if ts > after:
                    return ts
        except CroniterBadDateError:
            return None
        return None
    return _first_rule_occurrence(_rule(expr, tz_name, anchor), tz, start, after, horizon, candidates)


def _first_rule_occurrence(rule: Any, tz: ZoneInfo, start: datetime, after: float, horizon: float,
                           candidates: int | None) -> float | None:
    """Walk the rule's occurrences in order (from its start) to the first instant past ``after``;
    None past the horizon; NoOccurrence after ``candidates`` occurrences."""
    for seen, candidate in enumerate(rule, start=1):
        if candidates is not None and seen > candidates:
            raise NoOccurrence(f"{candidates:,} candidate occurrences")
        wall = candidate.replace(tzinfo=None)
        if wall <= start:
            continue
        ts = instant(wall, tz)
        if ts > horizon:
            return None
        if ts > after:
            return ts
    return None


def occurrences_between(kind: str, expr: str | None, tz_name: str, start: float, end: float, anchor: float = 0.0,
                        cap: int = 10_000) -> list[float]:
    """Firing instants in [start, end] (at most ``cap``): what a catch-up counts as missed."""
    out: list[float] = []
    if kind in ("event",):
        return out
    t: float | None = start - 1e-6
    try:
        with cpu_budget():  # one budget for the whole count, not one per occurrence
            while len(out) < cap:
                t = next_fire(kind, expr, tz_name, t, anchor)  # type: ignore[arg-type]
                if t is None or t > end:
                    break
                out.append(t)
    except NoOccurrence:
        log.warning("schedule %s %r: counting missed occurrences ran out of CPU budget at %d", kind, expr, len(out))
    return out


# -- events ------------------------------------------------------------------------------


def event_matches(pattern: str | None, event_type: str) -> bool:
    """An event schedule's ``schedule_expr`` is the event type, or a glob (``*``, ``?``,
    ``[..]``) over it: ``deploy.*`` matches ``deploy.finished``. Case-sensitive. No expr = ``*``."""
    return fnmatch.fnmatchcase(event_type, (pattern or "*").strip() or "*")


