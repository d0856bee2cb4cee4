"""Prometheus metrics, served on /metrics by `incident-operator run` (INCIDENT_METRICS_PORT).

Served by Hypercorn (prometheus_client's ASGI app) on its own event loop in a daemon thread, with the
webhook receiver's connection bounds: an idle connection, or one that sends no request head, is closed.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, make_asgi_app
from prometheus_client.core import GaugeMetricFamily

log = logging.getLogger(__name__)

INCIDENTS = Counter("incident_operator_incidents_total", "Incidents that reached a final phase",
                    ["phase", "outcome"])
PHASE_SECONDS = Histogram("incident_operator_phase_duration_seconds", "Time one phase run took", ["phase"],
                          buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120))
PHASE_RETRIES = Counter("incident_operator_phase_retries_total", "Phase runs that failed and were retried", ["phase"])
TOOL_CALLS = Counter("incident_operator_tool_calls_total", "Evidence source / tool calls by outcome",
                     ["tool", "outcome"])
REMEDIATIONS = Counter("incident_operator_remediations_total", "Remediation decisions by action and result",
                       ["action", "result"])
QUEUED = Gauge("incident_operator_incidents_queued", "Incidents waiting for a worker slot (served most severe first)")
LLM_CALLS = Counter("incident_operator_llm_calls_total", "Model calls by outcome", ["outcome"])
LLM_TOKENS = Counter("incident_operator_llm_tokens_total", "Model tokens", ["direction"])
LLM_FALLBACKS = Counter("incident_operator_llm_fallbacks_total",
                        "LLM diagnoses the rules answered instead, by what stopped the model", ["reason"])
LLM_DAY_TOKENS = Gauge("incident_operator_llm_day_tokens", "Model tokens spent today (UTC), as the day budget counts them")
LLM_DAY_BUDGET = Gauge("incident_operator_llm_day_token_budget", "The day's token budget (0: none)")
FEATURE_READY = Gauge("incident_operator_feature_ready",
                      "1: the feature works here; 0: off, or configured but cannot work (see the start-up warning)",
                      ["feature"])

APPROVAL_DECISIONS = Counter("incident_operator_approval_decisions_total",
                             "What became of plans proposed for approval: approved, denied, expired, stale",
                             ["action", "result"])
TIME_TO_APPROVAL = Histogram("incident_operator_time_to_approval_seconds",
                             "From a plan's proposal to the IncidentApproval that approved it", ["action"],
                             buckets=(10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200))
UNDOS = Counter("incident_operator_remediation_undos_total",
                "Automatic undos of actions not healthy in their window, by result: verified, unverified, failed",
                ["action", "result"])
EFFECTIVENESS = Counter("incident_operator_remediation_effectiveness_total",
                        "Effectiveness checks of verified fixes some minutes after Resolved: held or regressed",
                        ["action", "result"])


class PendingApprovals:
    """incident_operator_approvals_pending: plans waiting for a person's approval, read from the API server when
    scraped (`count`, at most once per `ttl` seconds), and reported only by the replica that leads (`leading`): a
    standby, which holds no work, reports no sample, so sum() and max() over the replicas both give the truth.
    A count that fails leaves the last one standing (or no sample, before the first)."""

    NAME = "incident_operator_approvals_pending"
    DOC = "Remediation plans waiting for a person's approval (the leading replica, from the API server)"

    def __init__(self, count: Callable[[], int], leading: Callable[[], bool], ttl: float = 15.0,
                 clock: Callable[[], float] = time.monotonic):
        self.count, self.leading, self.ttl, self.clock = count, leading, ttl, clock
        self._value: int | None = None
        self._at = -1e18
        self._lock = threading.Lock()

    def value(self) -> int | None:
        with self._lock:
            if self.clock() - self._at >= self.ttl:
                try:
                    self._value = int(self.count())
                except Exception as exc:  # noqa: BLE001 - a scrape never fails for it
                    log.warning("cannot count pending approvals: %s", exc)
                self._at = self.clock()  # failed or not: asked again after ttl, not at every scrape
            return self._value

    def describe(self) -> list:
        return []  # nothing read at registration

    def collect(self):
        try:
            leading = self.leading()
        except Exception:  # noqa: BLE001 - the peering object unreadable: the last answer stands in Peers
            leading = False
        value = self.value() if leading else None
        if value is None:
            return
        family = GaugeMetricFamily(self.NAME, self.DOC)
        family.add_metric([], value)
        yield family


_approvals: PendingApprovals | None = None


def watch_approvals(count: Callable[[], int], leading: Callable[[], bool], ttl: float = 15.0) -> PendingApprovals:
    """Serve the pending-approvals gauge from `count` (once per process; a second call replaces the first)."""
    global _approvals
    if _approvals is not None:
        REGISTRY.unregister(_approvals)
    _approvals = PendingApprovals(count, leading, ttl)
    REGISTRY.register(_approvals)
    return _approvals


# The series the chart's alerts watch with increase() exist from the start, at 0: a counter that appears
# only with its first event would hide that event from increase() (charts/incident-operator).
INCIDENTS.labels("Failed", "failed")
for _reason in ("budget-incident", "budget-day"):  # the chart's cost alerts watch these
    LLM_FALLBACKS.labels(_reason)
for _action in ("delete-cpu-burner", "rollback-image", "restore-replicas"):  # remediation.policy.ALLOWED_ACTIONS
    for _result in ("failed", "unverified"):
        REMEDIATIONS.labels(_action, _result)
        UNDOS.labels(_action, _result)
    UNDOS.labels(_action, "verified")
    for _result in ("held", "regressed"):
        EFFECTIVENESS.labels(_action, _result)


class MetricsUnavailable(RuntimeError):
    """The metrics port cannot be bound: the operator does not start without the metrics it was told to serve."""


IDLE_TIMEOUT_SECONDS = 15.0


def serve(port: int, address: str = "0.0.0.0") -> None:
    """Serve /metrics, or raise MetricsUnavailable (a busy port, a bad address): fail fast, like other operators."""
    if port <= 0:
        return
    from .serving import Served, bind, with_lifespan

    try:
        sock = bind(address, port)
    except OSError as exc:
        raise MetricsUnavailable(f"cannot serve metrics on {address}:{port}: {exc} "
                                 "(INCIDENT_METRICS_PORT / INCIDENT_METRICS_BIND_ADDRESS; port 0 turns metrics off)") from exc
    Served(with_lifespan(make_asgi_app()), sock, idle_timeout=IDLE_TIMEOUT_SECONDS, name="metrics").start()
    log.info("metrics on %s:%d/metrics", address, port)
