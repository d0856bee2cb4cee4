"""Token budgets for the LLM agent: one per Incident, one per day, both hard.

The agent's guard (agent/guard.py) asks before every model call whether the call fits: what the call
will read (strands' own estimate of the next input) plus the most it may write (INCIDENT_LLM_MAX_TOKENS)
must fit in what is left of the Incident's budget and of the day's. A call that does not fit is not
made: the agent stops and the rules engine answers, with the reason in `status.llm` and
`incident_operator_llm_fallbacks_total{reason}`. After the call the reservation is settled with the
tokens the provider reported.

The day's count lives in one ConfigMap (`incident-operator-llm-budget` in the operator's first incident
namespace, INCIDENT_LLM_BUDGET_NAMESPACE to change it): the UTC day and the tokens spent on it, written
after each model call with optimistic concurrency (resourceVersion), read back when the process starts.
It holds one day, never a history: a new day overwrites it. Where it cannot be read or written (no RBAC,
no cluster) the count is kept in memory for the process and the problem logged once.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Protocol

log = logging.getLogger(__name__)

CONFIGMAP = "incident-operator-llm-budget"


class BudgetExhausted(RuntimeError):
    """A model call that would not fit in a budget: the agent stops, the rules answer."""

    def __init__(self, scope: str, message: str):
        super().__init__(message)
        self.scope = scope  # incident | day


def today() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d")


class DayStore(Protocol):
    def read(self) -> tuple[str | None, int, Any]:
        """(day, tokens, version) as stored; (None, 0, None) when nothing is."""

    def write(self, day: str, tokens: int, version: Any) -> Any:
        """Store it if the stored version is still `version`; return the new version. Raise Conflict otherwise."""


class Conflict(Exception):
    pass


class MemoryStore:
    def __init__(self) -> None:
        self.day: str | None = None
        self.tokens = 0
        self.version = 0

    def read(self) -> tuple[str | None, int, Any]:
        return self.day, self.tokens, self.version

    def write(self, day: str, tokens: int, version: Any) -> Any:
        if version != self.version:
            raise Conflict()
        self.day, self.tokens, self.version = day, tokens, self.version + 1
        return self.version


class ConfigMapStore:
    """One ConfigMap: data.day, data.tokens. Its size does not grow with history."""

    def __init__(self, core: Any, namespace: str, name: str = CONFIGMAP):
        self.core, self.namespace, self.name = core, namespace, name

    def read(self) -> tuple[str | None, int, Any]:
        from kubernetes.client import ApiException
        try:
            cm = self.core.read_namespaced_config_map(self.name, self.namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None, 0, None
            raise
        data = cm.data or {}
        try:
            tokens = int(data.get("tokens") or 0)
        except ValueError:
            tokens = 0
        return data.get("day"), tokens, cm.metadata.resource_version

    def write(self, day: str, tokens: int, version: Any) -> Any:
        from kubernetes import client
        from kubernetes.client import ApiException
        body = client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name=self.name, namespace=self.namespace, resource_version=version,
                                         labels={"app.kubernetes.io/name": "incident-operator",
                                                 "netaiops.io/purpose": "llm-budget"}),
            data={"day": day, "tokens": str(tokens), "updatedAt": datetime.now(timezone.utc).isoformat()})
        try:
            if version is None:
                cm = self.core.create_namespaced_config_map(self.namespace, body)
            else:
                cm = self.core.replace_namespaced_config_map(self.name, self.namespace, body)
        except ApiException as exc:
            if exc.status in (409, 422) or (exc.status == 404 and version is not None):
                raise Conflict() from exc
            raise
        return cm.metadata.resource_version


class DayBudget:
    """Tokens spent today (UTC) across every Incident of the process, persisted in a DayStore.

    `reserve` holds tokens for a call about to be made (refusing it if it would not fit), `settle`
    replaces the reservation with what the call used and writes the day's total to the store."""

    def __init__(self, limit: int, store: DayStore | None = None, clock: Callable[[], str] = today):
        self.limit = limit  # 0: no daily cap (still counted)
        self.store = store or MemoryStore()
        self.clock = clock
        self._lock = threading.Lock()
        self._day: str | None = None
        self._spent = 0  # as stored plus what this process added
        self._version: Any = None
        self._unsaved = 0
        self._reserved = 0
        self._warned = False

    def _load(self) -> None:
        """On first use and when the UTC day turns: what the store holds for today (a new day starts at 0)."""
        day = self.clock()
        if self._day == day:
            return
        stored_day, tokens, version = None, 0, self._version
        try:
            stored_day, tokens, version = self.store.read()
        except Exception as exc:  # noqa: BLE001 - no store: count in memory, say so once
            self._warn(exc)
        self._day, self._version = day, version
        self._spent = tokens if stored_day == day else 0
        self._unsaved = 0

    def _warn(self, exc: BaseException) -> None:
        if not self._warned:
            log.warning("LLM day budget kept in memory only: %s: %s", type(exc).__name__, str(exc)[:200])
            self._warned = True

    def used(self) -> int:
        with self._lock:
            self._load()
            return self._spent

    def reserve(self, tokens: int) -> None:
        with self._lock:
            self._load()
            if self.limit and self._spent + self._reserved + tokens > self.limit:
                raise BudgetExhausted("day", f"일일 토큰 예산 소진: 오늘 {self._spent + self._reserved}/{self.limit} 토큰 사용, "
                                             f"다음 호출에 최대 {tokens} 토큰 필요 (INCIDENT_LLM_DAY_TOKEN_BUDGET)")
            self._reserved += tokens

    def settle(self, reserved: int, used: int) -> None:
        with self._lock:
            self._load()
            self._reserved = max(0, self._reserved - reserved)
            self._spent += used
            self._unsaved += used
            self._flush()

    def _flush(self) -> None:
        for _ in range(5):
            try:
                self._version = self.store.write(self._day or self.clock(), self._spent, self._version)
                self._unsaved = 0
                return
            except Conflict:  # another writer (a second replica, a restart's overlap): add ours to theirs
                try:
                    stored_day, tokens, self._version = self.store.read()
                except Exception as exc:  # noqa: BLE001
                    self._warn(exc)
                    return
                self._spent = (tokens if stored_day == self._day else 0) + self._unsaved
            except Exception as exc:  # noqa: BLE001 - the count stays in memory; the next write tries again
                self._warn(exc)
                return


@dataclass
class IncidentBudget:
    """One Incident's tokens, across every attempt of its diagnosis."""

    limit: int  # 0: no cap
    spent: int = 0

    def check(self, tokens: int) -> None:
        if self.limit and self.spent + tokens > self.limit:
            raise BudgetExhausted("incident", f"인시던트 토큰 예산 소진: {self.spent}/{self.limit} 토큰 사용, "
                                              f"다음 호출에 최대 {tokens} 토큰 필요 (INCIDENT_LLM_INCIDENT_TOKEN_BUDGET)")


_days: dict[tuple, DayBudget] = {}
_days_lock = threading.Lock()


def budget_namespace(settings: Any) -> str | None:
    if settings.llm_budget_namespace:
        return settings.llm_budget_namespace
    plain = [n for n in settings.incident_namespaces if not any(ch in n for ch in "*?[")]
    return plain[0] if plain else None


def day_budget(settings: Any, kube: Any = None) -> DayBudget:
    """The process's day budget (one per store), persisted in the ConfigMap when there is a cluster."""
    ns = budget_namespace(settings) if kube is not None else None
    key = (ns, settings.llm_day_token_budget)
    with _days_lock:
        found = _days.get(key)
        if found is None:
            store = ConfigMapStore(kube.core, ns) if ns else MemoryStore()
            found = _days[key] = DayBudget(settings.llm_day_token_budget, store)
        return found


__all__ = ["BudgetExhausted", "CONFIGMAP", "ConfigMapStore", "DayBudget", "IncidentBudget", "MemoryStore", "day_budget",
           "today"]
