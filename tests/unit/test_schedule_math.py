"""Pure schedule arithmetic: cron across DST, RRULE, once, validation (no database)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from taskloom.domain.errors import InvalidInput
from taskloom.domain.schedules import event_matches, instant, next_fire, occurrences_between, validate, zone

CHISINAU = "Europe/Chisinau"


def ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def iso(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


def firings(kind: str, expr: str, tz: str, start: str, n: int, anchor: float = 0.0) -> list[str | None]:
    out, t = [], ts(start)
    for _ in range(n):
        t = next_fire(kind, expr, tz, t, anchor)  # type: ignore[assignment]
        out.append(iso(t))
        if t is None:
            break
    return out


def test_daily_0230_spring_forward_fires_once_at_end_of_gap() -> None:
    # 2025-03-30: 02:00 EET jumps to 03:00 EEST; 02:30 does not exist -> 03:00 local (00:00Z).
    assert firings("cron", "30 2 * * *", CHISINAU, "2025-03-29T12:00:00Z", 3) == [
        "2025-03-30T00:00:00Z", "2025-03-30T23:30:00Z", "2025-03-31T23:30:00Z"]


def test_daily_0230_fall_back_fires_once_at_first_occurrence() -> None:
    # 2025-10-26: 03:00 EEST falls back to 02:00 EET; 02:30 exists twice -> the first (23:30Z) only.
    assert firings("cron", "30 2 * * *", CHISINAU, "2025-10-25T12:00:00Z", 3) == [
        "2025-10-25T23:30:00Z", "2025-10-27T00:30:00Z", "2025-10-28T00:30:00Z"]
    # Asking from inside the repeated hour (second 02:10) never yields the second 02:30.
    assert iso(next_fire("cron", "30 2 * * *", CHISINAU, ts("2025-10-26T00:10:00Z"))) == "2025-10-27T00:30:00Z"


def test_sub_hourly_cron_in_gap_collapses_and_repeated_hour_runs_once() -> None:
    assert firings("cron", "*/15 * * * *", CHISINAU, "2025-03-29T23:50:00Z", 3) == [
        "2025-03-30T00:00:00Z", "2025-03-30T00:15:00Z", "2025-03-30T00:30:00Z"]
    got = firings("cron", "*/30 * * * *", CHISINAU, "2025-10-25T23:10:00Z", 4)
    assert got == ["2025-10-25T23:30:00Z", "2025-10-26T01:00:00Z", "2025-10-26T01:30:00Z", "2025-10-26T02:00:00Z"]


def test_instant_rules() -> None:
    tz = zone(CHISINAU)
    assert iso(instant(datetime(2025, 3, 30, 2, 30), tz)) == "2025-03-30T00:00:00Z"
    assert iso(instant(datetime(2025, 10, 26, 2, 30), tz)) == "2025-10-25T23:30:00Z"
    assert iso(instant(datetime(2025, 6, 1, 12, 0), tz)) == "2025-06-01T09:00:00Z"


def test_cron_in_utc_and_aliases() -> None:
    assert firings("cron", "0 9 * * MON", "UTC", "2030-01-15T10:00:00Z", 2) == [
        "2030-01-21T09:00:00Z", "2030-01-28T09:00:00Z"]
    assert firings("cron", "@daily", "UTC", "2030-01-15T10:00:00Z", 1) == ["2030-01-16T00:00:00Z"]


def test_rrule_dtstart_count_until() -> None:
    now = ts("2030-01-01T00:00:00Z")
    rule = "DTSTART:20300105T090000\nRRULE:FREQ=DAILY;COUNT=3"
    assert firings("rrule", rule, CHISINAU, "2030-01-01T00:00:00Z", 4, now) == [
        "2030-01-05T07:00:00Z", "2030-01-06T07:00:00Z", "2030-01-07T07:00:00Z", None]
    until = "DTSTART;TZID=Europe/Chisinau:20300105T090000\nRRULE:FREQ=WEEKLY;UNTIL=20300113T000000Z"
    assert firings("rrule", until, CHISINAU, "2030-01-01T00:00:00Z", 3, now) == [
        "2030-01-05T07:00:00Z", "2030-01-12T07:00:00Z", None]
    # Without DTSTART the rule starts at the anchor (creation), in the schedule's zone.
    assert firings("rrule", "FREQ=HOURLY;BYMINUTE=15", "UTC", "2030-01-01T00:20:00Z", 1, now) == [
        "2030-01-01T01:15:00Z"]
    _, tz, first = validate("rrule", until, None, now)
    assert tz == CHISINAU and iso(first) == "2030-01-05T07:00:00Z"


def test_rrule_across_dst_follows_wall_clock() -> None:
    rule = "DTSTART:20250329T023000\nRRULE:FREQ=DAILY;COUNT=3"
    assert firings("rrule", rule, CHISINAU, "2025-03-28T00:00:00Z", 3, 0) == [
        "2025-03-29T00:30:00Z", "2025-03-30T00:00:00Z", "2025-03-30T23:30:00Z"]


def test_once() -> None:
    now = ts("2030-01-15T10:00:00Z")
    assert validate("once", "2030-01-15T13:00:00", CHISINAU, now)[2] == ts("2030-01-15T11:00:00Z")
    assert validate("once", "2030-01-15T11:00:00Z", None, now)[2] == ts("2030-01-15T11:00:00Z")
    assert next_fire("once", "2030-01-15T11:00:00Z", "UTC", ts("2030-01-15T11:00:00Z")) is None


def test_occurrences_between_counts_missed() -> None:
    got = occurrences_between("cron", "*/5 * * * *", "UTC", ts("2030-01-15T10:05:00Z"), ts("2030-01-15T11:02:00Z"))
    assert len(got) == 12 and iso(got[0]) == "2030-01-15T10:05:00Z" and iso(got[-1]) == "2030-01-15T11:00:00Z"


@pytest.mark.parametrize(
    ("kind", "expr", "tz", "needle"),
    [
        ("weekly", "x", "UTC", "schedule_kind"),
        ("cron", None, "UTC", "schedule_expr is required"),
        ("cron", "  ", "UTC", "schedule_expr is required"),
        ("cron", "61 * * * *", "UTC", "invalid cron"),
        ("cron", "* * * * * *", "UTC", "5 fields"),
        ("cron", "0 0 30 2 *", "UTC", "no occurrence"),
        ("cron", "* * * * *", "Mars/Olympus", "timezone"),
        ("cron", "* * * * *", "../etc/passwd", "timezone"),
        ("rrule", "FREQ=SOMETIMES", "UTC", "invalid RRULE"),
        ("rrule", "DTSTART;TZID=Europe/Paris:20300101T000000\nRRULE:FREQ=DAILY", CHISINAU, "DTSTART"),
        ("rrule", "DTSTART:20200101T000000\nRRULE:FREQ=DAILY;COUNT=1", "UTC", "no occurrence"),
        ("once", "2020-01-01T00:00:00Z", "UTC", "in the past"),
        ("once", "next tuesday", "UTC", "ISO 8601"),
    ],
)
def test_validation_messages(kind: str, expr: str | None, tz: str, needle: str) -> None:
    with pytest.raises(InvalidInput) as err:
        validate(kind, expr, tz, ts("2030-01-15T10:00:00Z"))
    assert needle in err.value.message


def test_event_matching() -> None:
    assert validate("event", None, None, 0.0) == ("*", "UTC", None)
    assert event_matches("deploy.*", "deploy.finished")
    assert event_matches("invoice.paid", "invoice.paid")
    assert not event_matches("invoice.paid", "invoice.paid.late")
    assert not event_matches("Deploy.*", "deploy.finished")
    assert event_matches("*", "anything")
