"""py-spy around a measured section of bench/run.py (``--profile DIR``), and a summary of where the
server's CPU went, grouped into the layers the performance notes talk about.

py-spy (a dev dependency) samples the server process from outside; ``--format raw`` writes
collapsed stacks ("frame;frame;... count"), which ``summarize`` folds into inclusive shares.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# Each busy sample goes to the first bucket whose test matches its stack (frames "func (file:line)").
BUCKETS = [
    ("event loop in C (uvloop: socket I/O, polling)", lambda st, leaf: leaf.startswith("Runner.run ")),
    ("SQL execution and commit (in the database driver)",
     lambda st, leaf: "taskloom/storage/sqlite.py" in leaf or "taskloom/storage/postgres.py" in leaf
     or "psycopg/" in leaf),
    ("engine and storage Python code", lambda st, leaf: "taskloom/engine/" in st or "taskloom/storage/" in st),
    ("route matching", lambda st, leaf: "matches (" in st or "_match (" in st or "url_path_for" in st),
    ("dependency solving (FastAPI)", lambda st, leaf: "solve_dependencies" in st),
    ("request validation (pydantic)", lambda st, leaf: "pydantic" in st),
    ("authentication", lambda st, leaf: "taskloom/api/auth.py" in st),
    ("answer building (views, orjson)", lambda st, leaf: "taskloom/api/views.py" in st or "render (" in st),
    ("rest of Starlette/FastAPI (middleware, request, response)", lambda st, leaf: "starlette/" in st
     or "fastapi/" in st),
    ("uvicorn HTTP protocol (httptools)", lambda st, leaf: "uvicorn/" in st),
]


@contextmanager
def recording(pid: int, out: Path | None, rate: int = 250) -> Iterator[None]:
    """Sample ``pid`` (and its subprocesses) with py-spy while the block runs; no-op if ``out`` is None."""
    if out is None:
        yield
        return
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    out.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([spy, "record", "--pid", str(pid), "--rate", str(rate), "--subprocesses",
                             "--format", "raw", "--output", str(out), "--nonblocking"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        yield
    finally:
        proc.send_signal(2)  # SIGINT: py-spy writes the file and exits
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def summarize(path: Path, top: int = 25) -> str:
    """Share of the busy samples per bucket, then the hottest frames by self time."""
    stacks: Counter[str] = Counter()
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks[stack] += int(count)
    total = sum(stacks.values()) or 1
    busy_stacks = {s: n for s, n in stacks.items() if not _idle(s)}
    busy = sum(busy_stacks.values()) or 1
    buckets: Counter[str] = Counter()
    own: Counter[str] = Counter()
    for st, n in busy_stacks.items():
        leaf = st.split(";")[-1]
        own[leaf] += n
        buckets[next((label for label, test in BUCKETS if test(st, leaf)), "other")] += n
    lines = [f"{total} samples, {100 * (total - busy) / total:.0f}% idle; shares of the {busy} busy samples:"]
    lines += [f"{100 * buckets[label] / busy:5.1f}%  {label}" for label, _ in BUCKETS + [("other", None)]]
    lines.append("hottest frames (self):")
    lines += [f"{100 * c / busy:5.1f}%  {f}" for f, c in own.most_common(top)]
    return "\n".join(lines)


def _idle(stack: str) -> bool:
    leaf = stack.split(";")[-1]
    return any(x in leaf for x in ("select (selectors.py", "wait (threading.py", "_worker (concurrent",
                                   "get (queue.py", "poll (", "epoll", "wait_for (asyncio", "_wait (psycopg"))
