"""The operator's own work queue: which Incident is worked on next, by whom, and when it is looked at again.

Kopf only watches (handlers.incident_event): each watch event is turned into at most one entry here,
keyed by the Incident, and Kopf's handler returns at once. So a storm of hundreds of Incidents costs a
heap entry each (a priority and a name), not a waiting handler holding every later watch event of its
Incident (what Kopf keeps per object while a handler runs: the bridge bumps each Incident ~10 times).

- `INCIDENT_WORKERS` workers take the most severe Incident first: a critical Incident created behind 500
  queued ones starts as soon as a worker frees. Within one severity, namespaces take turns (round-robin,
  oldest first within a namespace): a tenant's 500 Incidents delay another tenant's by at most one of
  theirs per worker, whatever their number.
- Severity is trusted only where tenants cannot write it: in an incident namespace (the bridge's alarm
  mapping, admins). A tenant's own `spec.severity` is capped at TENANT_SEVERITY_CAP (`high`): its
  "critical" never jumps the incident namespace's critical alarms, and it competes with other tenants'
  at `high`, in turns.
- Work that nobody waits for (labelling a finished Incident archived, e.g. the one-time archiving of every
  finished Incident on the first start after an upgrade) comes after every Incident that needs analysis.
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
from collections import deque
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, Callable

from . import metrics

log = logging.getLogger(__name__)

SEVERITY_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3}
DEFAULT_SEVERITY = "high"
TENANT_SEVERITY_CAP = "high"  # the most a tenant namespace's own spec.severity counts for
WORK, HOUSEKEEPING = 0, 1  # tiers: Incidents someone waits for, then the rest (archiving finished ones)
Key = tuple[str, str]  # (namespace, name)
RETRY_AFTER_ERROR = 10.0  # seconds, doubling per failure in a row up to RETRY_AFTER_ERROR_MAX: the work failed
RETRY_AFTER_ERROR_MAX = 300.0  # unexpectedly (the API server unreachable, a write it refuses)
PAUSE_POLL = 2.0


def severity_rank(spec: Any, trusted: bool) -> int:
    """The rank the queue uses: spec.severity as written where it is trusted (an incident namespace), at most
    TENANT_SEVERITY_CAP elsewhere. Unknown severities queue with the default, `high`."""
    severity = str((spec or {}).get("severity") or DEFAULT_SEVERITY)
    rank = SEVERITY_RANK.get(severity, SEVERITY_RANK[DEFAULT_SEVERITY])
    return rank if trusted else max(rank, SEVERITY_RANK[TENANT_SEVERITY_CAP])


def priority(spec: Any, meta: Any, *, trusted: bool = False, housekeeping: bool = False) -> tuple[int, int, str]:
    """(tier, severity rank, creation time): smaller runs first. The queue's levels are all but the last item
    (namespaces take turns within a level); the last orders a namespace's own Incidents. `trusted`: the
    Incident lives in an incident namespace (its severity counts as written); `housekeeping`: all it needs
    is its archive label."""
    return (HOUSEKEEPING if housekeeping else WORK, severity_rank(spec, trusted),
            str((meta or {}).get("creationTimestamp") or ""))


class _Level:
    """The Incidents queued at one priority level: a heap per namespace, and the namespaces' turns."""

    def __init__(self) -> None:
        self.heaps: dict[str, list[tuple[Any, int, Key]]] = {}
        self.turns: deque[str] = deque()  # each namespace with a heap, once

    def push(self, entry: tuple[Any, int, Key]) -> None:
        namespace = entry[2][0]
        heap = self.heaps.get(namespace)
        if heap is None:
            heap = self.heaps[namespace] = []
            self.turns.append(namespace)  # a newcomer's turn comes after those already waiting, once each
        heapq.heappush(heap, entry)

    def pop(self, current: Callable[[tuple[Any, int, Key]], bool]) -> tuple[Any, int, Key] | None:
        """The next namespace's oldest entry that is still `current`; that namespace goes to the back."""
        while self.turns:
            namespace = self.turns.popleft()
            heap = self.heaps[namespace]
            found = None
            while heap and found is None:
                entry = heapq.heappop(heap)
                if current(entry):
                    found = entry
            if heap:
                self.turns.append(namespace)
            else:
                del self.heaps[namespace]
            if found is not None:
                return found
        return None


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
        self._levels: dict[Any, _Level] = {}  # priority[:-1] -> its namespaces' heaps (superseded entries stay)
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
        self._levels.setdefault(tuple(prio[:-1]), _Level()).push((prio, next(self._order), key))
        metrics.QUEUED.set(len(self._queued))
        if self._more is not None:
            self._more.set()

    def wake(self, key: Key, prio: Any) -> None:
        """Something the Incident waits on happened (an approval): a delayed entry runs now (with its own priority);
        one being worked on is looked at again right after; one not known here is queued."""
        if key in self._running:
            self._running[key] = ("wake", id(object()))  # differs from any watched tuple: looked at again after
            return
        if key in self._delayed:
            handle, prio, _ = self._delayed.pop(key)
            handle.cancel()
        self.offer(key, prio)

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
            if not self._queued:
                self._levels.clear()  # only superseded entries were left

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
        if self._queued:
            self._more.set()
        self._tasks = [asyncio.create_task(self._worker(), name=f"incident-worker-{i}") for i in range(self.workers)]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for handle, _, _ in self._delayed.values():
            handle.cancel()
        self._delayed.clear()

    def _pop(self) -> tuple[Key, Any] | None:
        """The next entry: the best level first; within it, the namespaces in turn."""
        for level in sorted(self._levels):
            entry = self._levels[level].pop(lambda e: self._queued.get(e[2]) == e[0])  # else superseded
            if not self._levels[level].turns:
                del self._levels[level]
            if entry is not None:
                prio, _, key = entry
                del self._queued[key]
                metrics.QUEUED.set(len(self._queued))
                return key, prio
        return None

    async def _take(self) -> tuple[Key, Any]:
        assert self._more is not None
        loop = asyncio.get_running_loop()
        while True:
            if not self._queued:
                self._more.clear()
                await self._more.wait()
                continue
            if await loop.run_in_executor(self.executor, self.paused):
                await asyncio.sleep(PAUSE_POLL)  # another replica leads: take nothing new
                continue
            taken = self._pop()
            if taken is None:
                continue  # another worker took it while this one asked
            return taken

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
                after = 0.0  # someone asked something while it ran: look again now, as work someone waits for
                if isinstance(prio, tuple) and len(prio) == 3 and prio[0] == HOUSEKEEPING:
                    prio = (WORK, *prio[1:])
            if after is not None:
                self.later(key, prio, after, done.watched)
