"""The peers of bench/run.py (Celery for SQLite, Procrastinate for PostgreSQL): each drained by
bench/peers.py in its own venv, and Taskloom's figures printed as ratios to them."""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path
from typing import Any

import orjson
from bench.common import log, med

ROOT = Path(__file__).resolve().parents[1]
PEERS_PY = ROOT / "bench" / ".peers-venv" / "bin" / "python"


def run_peer(peer: str, args: argparse.Namespace) -> dict[str, Any]:
    """One drain of ``args.peer_tasks`` no-op tasks by 8 workers; {"rate"} or {"skipped": reason}."""
    if not PEERS_PY.exists():
        return {"skipped": f"{PEERS_PY.relative_to(ROOT)} is missing (make bench installs it)"}
    try:
        out = subprocess.run([str(PEERS_PY), str(ROOT / "bench" / "peers.py"), peer, "--tasks", str(args.peer_tasks),
                              "--pg-url", args.pg_url], capture_output=True, text=True, timeout=1200)
    except subprocess.TimeoutExpired:
        return {"skipped": "timed out after 1200 s"}
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        return {"skipped": f"peers.py failed ({out.returncode}): {out.stderr.strip()[-300:]}"}
    return dict(orjson.loads(lines[-1]))


def measure_peer(peer: str, args: argparse.Namespace) -> dict[str, Any]:
    runs = []
    for i in range(args.repeat):
        log(f"peer {peer} {i + 1}/{args.repeat} ({args.peer_tasks} no-op tasks, 8 workers)")
        r = run_peer(peer, args)
        if "skipped" in r:
            log(f"  {peer} skipped: {r['skipped']}")
            return r
        log(f"  {peer}: {r['rate']:.0f} tasks/s")
        runs.append(r)
    return {"rate": med([r["rate"] for r in runs]), "runs": [r["rate"] for r in runs]}


def vs(value: float, peer: dict[str, Any] | None, name: str, need: float) -> str:
    """``value`` as a ratio to a peer measured in this run, against the ratio the issue asks for."""
    if peer is None:
        return f">= {need:g}x {name} (not measured: part skipped)"
    if "skipped" in peer:
        return f">= {need:g}x {name}: skipped ({peer['skipped']})"
    ratio = value / peer["rate"]
    runs = ", ".join(f"{r:.0f}" for r in peer["runs"])
    return f"x{ratio:.2f} of {name} {peer['rate']:.0f}/s (runs: {runs}); >= {need:g}x" + (" ✔" if ratio >= need else " ✘")


def mark(ok: bool) -> str:
    return " ✔" if ok else " ✘"
