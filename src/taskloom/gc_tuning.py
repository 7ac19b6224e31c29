"""The garbage collector's settings for a server process (``taskloom serve``).

Measured on the SQLite drain (bench/run.py, 10,000 claim-next -> complete cycles): with Python's
defaults the cyclic collector took 6.4 % of the server's CPU, 0.11 ms a cycle. Most of it was
eight full collections of the ~146,000 objects that exist from start-up on (the app, its routes,
pydantic's validators, imported modules), 92 ms each and each one a pause for every request in
flight; the rest was a young-generation pass every 700 net container allocations.

After start-up, the process freezes what exists (``gc.freeze``: never scanned again; it is alive
for the process's life anyway) and lets the young generation grow to 10,000 objects before a
pass. Requests free almost everything they allocate by reference counting, so the passes are
rare and short: 0.002 s of collector time in the same drain. Only the server does this; an app
built in a test process keeps the defaults (a frozen heap would keep each test's app forever).
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 10_000


def tune_for_serving() -> None:
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
