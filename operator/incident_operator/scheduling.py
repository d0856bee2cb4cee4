"""The operator's own work queue: which Incident is worked on next, by whom, and when it is looked at again.

Kopf only watches (handlers.incident_event): each watch event is turned into at most one entry here,
keyed by the Incident, and Kopf's handler returns at once. So a storm of hundreds of Incidents costs a
heap entry each (a priority and a name), not a waiting handler holding every later watch event of its
Incident (what Kopf keeps per object while a handler runs: the bridge bumps each Incident ~10 times).

- `INCIDENT_WORKERS` workers take the most severe Incident first, then the oldest: a critical Incident
  created behind 500 queued ones starts as soon as a worker frees.
- One entry per Incident: an event for a queued Incident changes nothing (a more severe priority moves
  it up); an event for an Incident being worked on is remembered, and if it changed what people ask of
  the operator (next_step.watched) the Incident is looked at again right after.
- A piece of work says when to come back (a retry's backoff, a rollout being waited on, a report owed):
  the Incident is offered again after that delay; events meanwhile do not shorten it, unless people asked
  something new (a re-run, un-silencing, a recovery). Unexpected failures back off, doubling per failure.
- While Kopf's peering says another replica leads, workers take nothing new.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, Callable

from . import metrics

log = logging.getLogger(__name__)

SEVERITY_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3}
Key = tuple[str, str]  # (namespace, name)
RETRY_AFTER_ERROR = 10.0  # seconds, doubling per failure in a row up to RETRY_AFTER_ERROR_MAX: the work failed
RETRY_AFTER_ERROR_MAX = 300.0  # unexpectedly (the API server unreachable, a write it refuses)
PAUSE_POLL = 2.0


def priority(spec: Any, meta: Any) -> tuple[int, str]:
    """(severity rank, creation time): smaller runs first. Unknown severities queue with `high`, the default."""
    severity = (spec or {}).get("severity") or "high"
    return SEVERITY_RANK.get(str(severity), 1), str((meta or {}).get("creationTimestamp") or "")


@dataclass(frozen=True)
class Done:
    """How a piece of work ended: come back after `after` seconds (None: only when an event asks), and what
    people had asked of the Incident when it was read (next_step.watched)."""
    after: float | None = None
    watched: tuple | None = None


class WorkQueue:
    def __init__(self, workers: int, work: Callable[[Key], Done], executor: Executor,
                 paused: Callable[[], bool] = lambda: False):
        self.workers, self.work, self.executor, self.paused = workers, work, executor, paused
        self._heap: list[tuple[Any, int, Key]] = []
        self._queued: dict[Key, Any] = {}
        self._running: dict[Key, tuple | None] = {}  # key -> watched fields of the last event seen meanwhile
        self._delayed: dict[Key, tuple[asyncio.TimerHandle, Any, tuple | None]] = {}  # handle, priority, watched
        self._failures: dict[Key, int] = {}  # failures in a row, only for the Incidents failing now
        self._order = itertools.count()
        self._more: asyncio.Event | None = None
        self._tasks: list[asyncio.Task] = []

    # -- what the watch feeds in (called on the event loop) -------------------------------------------
    def seen(self, key: Key, watched: tuple) -> bool:
        """An event for `key`; True if it is being worked on (the event is remembered for afterwards)."""
        if key in self._running:
            self._running[key] = watched
            return True
        return False

    def offer(self, key: Key, prio: Any, watched: tuple | None = None) -> None:
        """Queue `key` unless it is queued (then only a better priority counts), running or waiting out a delay
        (unless people asked something new meanwhile: `watched` differs from when the delay began)."""
        if key in self._running:
            return
        if key in self._delayed:
            if watched is None or watched == self._delayed[key][2]:
                return
            self._delayed.pop(key)[0].cancel()
        if key in self._queued and self._queued[key] <= prio:
            return
        self._queued[key] = prio
        heapq.heappush(self._heap, (prio, next(self._order), key))
        metrics.QUEUED.set(len(self._queued))
        if self._more is not None:
            self._more.set()

    def later(self, key: Key, prio: Any, delay: float, watched: tuple | None = None) -> None:
        if delay <= 0:
            self.offer(key, prio)
            return
        if key in self._delayed:
            self._delayed.pop(key)[0].cancel()
        handle = asyncio.get_running_loop().call_later(delay, self._due, key)
        self._delayed[key] = (handle, prio, watched)

    def cancel(self, key: Key) -> None:
        """Forget a queued or delayed entry and its failures (the Incident is gone); work running on it finishes."""
        if key in self._delayed:
            self._delayed.pop(key)[0].cancel()
        self._failures.pop(key, None)
        if self._queued.pop(key, None) is not None:
            metrics.QUEUED.set(len(self._queued))

    def _due(self, key: Key) -> None:
        _, prio, _ = self._delayed.pop(key)
        self.offer(key, prio)

    @property
    def waiting(self) -> int:
        return len(self._queued)

    @property
    def delayed(self) -> int:
        return len(self._delayed)

    # -- the workers -------------------------------------------------------------------------------------
    def start(self) -> None:
        self._more = asyncio.Event()
        if self._heap:
            self._more.set()
        self._tasks = [asyncio.create_task(self._worker(), name=f"incident-worker-{i}") for i in range(self.workers)]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for handle, _, _ in self._delayed.values():
            handle.cancel()
        self._delayed.clear()

    async def _take(self) -> tuple[Key, Any]:
        assert self._more is not None
        loop = asyncio.get_running_loop()
        while True:
            if not self._heap:
                self._more.clear()
                await self._more.wait()
                continue
            if await loop.run_in_executor(self.executor, self.paused):
                await asyncio.sleep(PAUSE_POLL)  # another replica leads: take nothing new
                continue
            if not self._heap:
                continue  # another worker took it while this one asked
            prio, _, key = heapq.heappop(self._heap)
            if self._queued.get(key) != prio:
                continue  # superseded (moved up, cancelled, or taken already)
            del self._queued[key]
            metrics.QUEUED.set(len(self._queued))
            return key, prio

    async def _worker(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                key, prio = await self._take()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - e.g. the peering check failed: a worker never dies of it
                log.exception("taking the next Incident failed")
                await asyncio.sleep(PAUSE_POLL)
                continue
            self._running[key] = None
            try:
                done = await loop.run_in_executor(self.executor, self.work, key)
                self._failures.pop(key, None)
            except Exception:  # noqa: BLE001 - the work logs its own failures; this is the unexpected rest
                failures = self._failures[key] = self._failures.get(key, 0) + 1
                delay = min(RETRY_AFTER_ERROR_MAX, RETRY_AFTER_ERROR * 2 ** (failures - 1))
                log.exception("working on %s/%s failed (%d in a row); again in %.0fs", *key, failures, delay)
                done = Done(after=delay)
            finally:
                seen = self._running.pop(key, None)
            after = done.after
            if seen is not None and done.watched is not None and seen != done.watched:
                after = 0.0  # someone asked something while it ran: look again now
            if after is not None:
                self.later(key, prio, after, done.watched)
