"""A short-lived, bounded cache of cluster reads that change slowly, shared by every Incident.

A storm brings hundreds of Incidents about one namespace within seconds; each would list the same
Services, Ingresses, NetworkPolicies, HPAs, quotas and LimitRanges and read the same Nodes. Those are
configuration, not the failure itself, so a read at most `ttl` seconds old serves them all (the pods,
their Events, logs and the workload's rollout are always read fresh). Bounded in entries (oldest out
first), so memory does not grow with the cluster or the history; `ttl` 0 turns it off.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any, Callable, Hashable

MAX_ENTRIES = 512


class TtlCache:
    def __init__(self, ttl: float, max_entries: int = MAX_ENTRIES, clock: Callable[[], float] = time.monotonic):
        self.ttl, self.max_entries, self.clock = ttl, max_entries, clock
        self._items: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: Hashable, load: Callable[[], Any]) -> Any:
        """The value for `key` if read within `ttl`, otherwise `load()` (errors are not cached)."""
        if self.ttl <= 0:
            return load()
        now = self.clock()
        with self._lock:
            held = self._items.get(key)
            if held and now - held[0] < self.ttl:
                self.hits += 1
                return held[1]
        value = load()  # outside the lock: two threads may both read once, never wait on each other
        with self._lock:
            self.misses += 1
            self._items[key] = (now, value)
            self._items.move_to_end(key)
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)
        return value
