"""Batch statements bind their parameters by position (storage/dialects.py ``positional``):
the names come back in statement order, repeats included, in each driver's style."""

from __future__ import annotations

from taskloom.storage.dialects import POSTGRES, SQLITE


def test_sqlite_marks_each_use_of_a_name_in_order() -> None:
    text, names = SQLITE.positional("UPDATE t SET a = :now, b = :v0 WHERE c = :now AND d::text = 'x:y'")
    assert text == "UPDATE t SET a = ?, b = ? WHERE c = ? AND d::text = 'x:y'"
    assert names == ("now", "v0", "now")


def test_postgres_marks_with_percent_s_and_escapes_literal_percents() -> None:
    text, names = POSTGRES.positional("SELECT :a, '50%', :b_1")
    assert text == "SELECT %s, '50%%', %s"
    assert names == ("a", "b_1")
