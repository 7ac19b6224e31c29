"""The lease rescuer: takes back runs whose lease lapsed or whose timeout passed (and
expires queued runs past their deadline),
without anyone calling it. Safe to run in every process: each take-back is a
guarded update, so two rescuers never fail the same run twice."""

from __future__ import annotations

from typing import TYPE_CHECKING

from taskloom.engine.engine import Service
from taskloom.engine.runs import expire_deadlines, expire_leases

if TYPE_CHECKING:
    from taskloom.engine.engine import Engine


class LeaseRescuer(Service):
    name = "lease-rescuer"

    def __init__(self, interval: float = 1.0):
        self.interval = interval
        self.taken_back = 0

    async def tick(self, engine: Engine) -> None:
        while True:
            n = await engine.system_write(lambda tx, ctx: expire_leases(tx, ctx))
            n += await engine.system_write(lambda tx, ctx: expire_deadlines(tx, ctx))
            self.taken_back += n
            if n < 200:
                return
