"""Who an alarm is about when it names no pod or node (an aggregate alarm, a hand-made `ClusterName`-only
one; the alarm-level notification of a multi-time-series alarm opens no Incident, its contributors do):
suspects, each with why.

Three searches, run in parallel, each bounded in size and time (`INCIDENT_SOURCE_TIMEOUT_SECONDS`) and
each allowed to fail on its own:
- the alarm's contributors in ALARM (CloudWatch `DescribeAlarmContributors`);
- the top pods / nodes by the alarm's metric in the window (a Metrics Insights `GetMetricData` query,
  `GROUP BY Namespace, PodName` or `NodeName`, `ORDER BY ... DESC LIMIT n`);
- a cluster-wide scan of unhealthy pods (waiting reasons, restarts, not ready) and nodes (not Ready).
A tenant's Incident searches its own namespace only.
"""

from __future__ import annotations

import logging
import re
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from .models.evidence import TimeWindow
from .models.spec import Alarm

log = logging.getLogger(__name__)

INSIGHTS_MAX_AGE = timedelta(hours=3)  # Metrics Insights queries only the most recent three hours
PEAK_FUNCTION = {"pod_number_of_container_restarts": "MAX"}


@dataclass
class Suspect:
    kind: str  # Pod (Container Insights PodName: often the workload's name) or Node
    name: str
    namespace: str | None = None
    reason: str = ""
    score: float = 0.0

    @property
    def key(self) -> tuple:
        return (self.kind, self.namespace, self.name)

    def affected(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in (None, "") and k != "score"}


def _level(metric: str | None) -> str:
    return "node" if (metric or "").startswith("node_") else "pod"


RANKED_LABEL = re.compile(r"^(\d+) - (.*)$")
OTHER = "Other"  # Metrics Insights' value for a GROUP BY key the series has no dimension for


def group_keys(metric: str | None) -> list[str]:
    """The GROUP BY keys of `insights_query`, in order: what each series' label holds."""
    return ["NodeName"] if _level(metric) == "node" else ["Namespace", "PodName"]


def parse_group_label(label: str | None, keys: list[str]) -> dict[str, str] | None:
    """A Metrics Insights GROUP BY series' label as {key: value}, or None when it names no single resource.

    CloudWatch labels each series with its GROUP BY values in GROUP BY order, space-separated; with ORDER BY,
    prefixed with the series' rank (`"1 - shop api"`); a key the series has no dimension for reads `Other`
    (an aggregate such as {ClusterName, Namespace}). Kubernetes names hold no spaces and are lower-case, so
    neither the split nor `Other` can be confused with a real name (tests/fixtures/aws/, docs/aws-contracts.md)."""
    text = (label or "").strip()
    m = RANKED_LABEL.match(text)
    if m:
        text = m.group(2)
    values = text.split()
    if len(values) != len(keys) or OTHER in values:
        return None
    return dict(zip(keys, values))


def insights_query(metric: str, cluster: str, limit: int, namespace: str | None = None) -> str:
    fn = PEAK_FUNCTION.get(metric, "AVG")
    where = f"ClusterName = '{cluster.replace(chr(39), chr(39) * 2)}'"
    if _level(metric) == "node":
        return (f"SELECT {fn}({metric}) FROM SCHEMA(ContainerInsights, ClusterName, InstanceId, NodeName) "
                f"WHERE {where} GROUP BY NodeName ORDER BY {fn}() DESC LIMIT {limit}")
    if namespace:
        where += f" AND Namespace = '{namespace}'"
    return (f"SELECT {fn}({metric}) FROM SCHEMA(ContainerInsights, ClusterName, Namespace, PodName) "
            f"WHERE {where} GROUP BY Namespace, PodName ORDER BY {fn}() DESC LIMIT {limit}")


def metric_suspects(cloudwatch: Any, alarm: Alarm, cluster: str, window: TimeWindow, limit: int,
                    namespace: str | None = None) -> list[Suspect]:
    metric = alarm.metric.name
    if not metric:
        return []
    end = min(window.end, datetime.now(timezone.utc))
    start = max(window.start, end - INSIGHTS_MAX_AGE + timedelta(minutes=1))
    if start >= end:
        return []
    period = max(60, int(alarm.metric.period or 60))
    res = cloudwatch.get_metric_data(
        MetricDataQueries=[{"Id": "q1", "Expression": insights_query(metric, cluster, limit, namespace), "Period": period}],
        StartTime=start, EndTime=end)
    out = []
    keys = group_keys(metric)
    for r in res.get("MetricDataResults", []):
        values = [v for v in r.get("Values", []) if v is not None]
        group = parse_group_label(r.get("Label"), keys)
        if not values or group is None:
            continue
        peak = max(values)
        why = f"{metric} 상위 (최대 {peak:.1f}, 임계값 {alarm.threshold if alarm.threshold is not None else '?'})"
        if "NodeName" in group:
            out.append(Suspect("Node", group["NodeName"], reason=why, score=peak))
        elif namespace is None or group["Namespace"] == namespace:
            out.append(Suspect("Pod", group["PodName"], namespace=group["Namespace"], reason=why, score=peak))
    out.sort(key=lambda s: -s.score)
    return out[:limit]


def contributor_suspects(cloudwatch: Any, alarm: Alarm, limit: int, namespace: str | None = None) -> list[Suspect]:
    """The alarm's contributors in ALARM (multi-time-series alarms)."""
    if not alarm.query:
        return []
    res = cloudwatch.describe_alarm_contributors(AlarmName=alarm.name)
    out = []
    for c in res.get("AlarmContributors", [])[: limit * 2]:
        attrs = c.get("ContributorAttributes") or {}
        why = f"알람 기여자 {c.get('ContributorId')}: {c.get('StateReason', '')[:200]}"
        if attrs.get("NodeName"):
            out.append(Suspect("Node", attrs["NodeName"], reason=why, score=1e9))
        elif attrs.get("PodName") and attrs.get("Namespace") and (namespace is None or attrs["Namespace"] == namespace):
            out.append(Suspect("Pod", attrs["PodName"], namespace=attrs["Namespace"], reason=why, score=1e9))
    return out[:limit]


def unhealthy_suspects(kube: Any, limit: int, namespace: str | None = None, scan: int = 500) -> list[Suspect]:
    """Pods that are failing (waiting, restarting, not ready) and nodes that are not Ready, worst first."""
    core = kube.core
    pods = (core.list_namespaced_pod(namespace, limit=scan) if namespace else
            core.list_pod_for_all_namespaces(limit=scan)).items
    out = []
    for p in pods:
        sts = (p.status.container_statuses or []) + (p.status.init_container_statuses or []) if p.status else []
        restarts = sum(s.restart_count or 0 for s in sts)
        waiting = next((s.state.waiting.reason for s in sts if s.state and s.state.waiting and s.state.waiting.reason), None)
        not_ready = bool(sts) and not all(s.ready for s in p.status.container_statuses or [])
        score = (3 if waiting else 0) + min(restarts, 20) / 10 + (1 if not_ready else 0)
        if p.status and p.status.phase == "Failed":
            score += 2
        if score:
            bits = [f"대기: {waiting}" if waiting else "", f"재시작 {restarts}회" if restarts else "",
                    "준비 안 됨" if not_ready else "", f"상태 {p.status.phase}" if p.status.phase == "Failed" else ""]
            out.append(Suspect("Pod", p.metadata.name, namespace=p.metadata.namespace,
                               reason="비정상 파드: " + ", ".join(b for b in bits if b), score=score))
    if namespace is None:
        for n in core.list_node(limit=scan).items:
            ready = next((c.status for c in (n.status.conditions or []) if c.type == "Ready"), "Unknown") if n.status else "Unknown"
            if ready != "True":
                out.append(Suspect("Node", n.metadata.name, reason=f"노드 Ready={ready}", score=4))
    out.sort(key=lambda s: (-s.score, s.namespace or "", s.name))
    return out[:limit]


def find(deps: Any, alarm: Alarm | None, cluster: str | None, window: TimeWindow, limit: int,
         namespace: str | None = None) -> tuple[list[Suspect], list[str]]:
    """Suspects from every search that works, deduplicated, best first; and the searches that failed."""
    from .tools.cloudwatch import _cloudwatch
    found: list[Suspect] = []
    notes: list[str] = []
    searches = []
    if alarm is not None:
        searches.append(("contributors", lambda: contributor_suspects(_cloudwatch(deps), alarm, limit, namespace)))
        if cluster:
            searches.append(("metrics", lambda: metric_suspects(_cloudwatch(deps), alarm, cluster, window, limit, namespace)))
    searches.append(("unhealthy", lambda: unhealthy_suspects(deps.kube, limit, namespace)))
    timeout = deps.settings.source_timeout_seconds
    futures = [(name, deps.pool.submit(search)) for name, search in searches]  # in parallel, each bounded
    for name, future in futures:
        try:
            found += future.result(timeout=timeout)
        except FutureTimeout:  # a slow AWS endpoint never holds the gather phase
            future.cancel()
            notes.append(f"{name}: no answer within {timeout:g}s")
        except Exception as exc:  # noqa: BLE001 - each search may fail on its own
            notes.append(f"{name}: {type(exc).__name__}: {str(exc)[:200]}")
            log.info("suspect search %s failed: %s", name, exc)
    seen: dict[tuple, Suspect] = {}
    for s in found:
        if s.key in seen:
            seen[s.key].reason += f"; {s.reason}"
        else:
            seen[s.key] = s
    return list(seen.values())[:limit], notes
