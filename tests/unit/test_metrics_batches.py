"""Run transitions are counted per label once per commit (a batch's 100 runs: one increment of
100); the figures are what one increment per run gives."""

from __future__ import annotations

from prometheus_client import generate_latest

from taskloom.metrics import Metrics

NOW = 1_800_000_000.0


def _rows() -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for i in range(12):
        channel = ("a", "b", None)[i % 3]
        rows.append({"id": f"c{i}", "status": "claimed", "network_channel": channel, "claimed_at": NOW + i,
                     "queued_at": NOW - i, "ended_at": None, "error": None})
        status, error = [("completed", None), ("failed", "boom"), ("failed", "lease expired"),
                         ("canceled", "x")][i % 4]
        rows.append({"id": f"f{i}", "status": status, "network_channel": channel, "claimed_at": NOW,
                     "queued_at": NOW - 1, "ended_at": NOW + i / 10, "error": error})
    rows.append({"id": "q", "status": "queued", "network_channel": "a", "claimed_at": None, "queued_at": NOW,
                 "ended_at": None, "error": None})
    return rows


def _scrape(m: Metrics) -> bytes:
    assert m.registry is not None
    return b"\n".join(line for line in generate_latest(m.registry).splitlines()
                      if line.startswith(b"taskloom_run") and b"_created" not in line)


def test_a_commit_of_many_runs_counts_what_one_commit_a_run_counts() -> None:
    together, apart = Metrics(), Metrics()
    together.run_transitions(_rows())
    for row in _rows():
        apart.run_transitions([row])
    assert _scrape(together) == _scrape(apart)
    text = _scrape(together).decode()
    assert 'taskloom_runs_claimed_total{channel="a"} 4.0' in text
    assert 'taskloom_runs_finished_total{channel="b",outcome="lease_expired"}' in text


def test_the_channel_cap_keeps_the_first_channels_seen() -> None:
    m = Metrics(max_channels=2)
    m.run_transitions([{"id": str(i), "status": "claimed", "network_channel": f"ch{i}", "claimed_at": NOW,
                        "queued_at": NOW} for i in range(4)])
    text = _scrape(m).decode()
    assert 'channel="ch0"' in text and 'channel="ch1"' in text and 'channel="other"} 2.0' in text
