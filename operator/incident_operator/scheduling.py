"""Which Incident is worked on next: the most severe first, then the oldest.

Kopf starts a handler for every Incident as soon as it sees it; under a storm that is hundreds at once.
Each pipeline run waits here (as an asyncio task: no thread, no memory beyond the wait itself) for one
of `INCIDENT_WORKERS` slots, and slots go to waiters in priority order, not arrival order. So a
critical Incident created behind 500 queued ones starts as soon as a slot frees.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

SEVERITY_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3}


def priority(spec: Any, meta: Any) -> tuple[int, str]:
    """(severity rank, creation time): smaller runs first. Unknown severities queue with `high`, the default."""
    severity = (spec or {}).get("severity") or "high"
    return SEVERITY_RANK.get(str(severity), 1), str((meta or {}).get("creationTimestamp") or "")


class PriorityGate:
    """At most `slots` holders; waiters are served smallest priority first (ties: first come)."""

    def __init__(self, slots: int):
        self.free = slots
        self._waiters: list[tuple[Any, int, asyncio.Future]] = []
        self._order = itertools.count()

    @property
    def waiting(self) -> int:
        return sum(1 for _, _, f in self._waiters if not f.done())

    @asynccontextmanager
    async def slot(self, prio: Any) -> AsyncIterator[None]:
        await self._acquire(prio)
        try:
            yield
        finally:
            self._release()

    async def _acquire(self, prio: Any) -> None:
        if self.free > 0 and not self.waiting:
            self.free -= 1
            return
        fut = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (prio, next(self._order), fut))
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self._release()  # the slot was handed over just as we were cancelled: pass it on
            raise

    def _release(self) -> None:
        while self._waiters:
            _, _, fut = heapq.heappop(self._waiters)
            if not fut.done():
                fut.set_result(None)  # the slot goes straight to the next waiter
                return
        self.free += 1
