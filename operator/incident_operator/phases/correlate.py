"""Phase 4: anomalies within T±window, links between metrics, and similar past Incidents."""

from __future__ import annotations

import statistics
from datetime import datetime, timezone
from typing import Any

from ..models.diagnosis import Anomaly, SimilarIncident
from ..models.evidence import EvidenceBundle, MetricSeries
from bridge_lambda.alarm import label_value

from ..constants import LABEL_CAUSE, LABEL_FIX, LABEL_FIX_RESULT, LABEL_WORKLOAD
from ..remediation.approval import rank_fixes
from ..tenancy import memory_namespace
from .context import PhaseContext
from .gather import similarity_labels

MAX_ANOMALIES = 30
SIMILAR_SCAN = 50  # Incidents read per label when looking for similar ones
_EPOCH = datetime.min.replace(tzinfo=timezone.utc)


def _in_window(t: datetime | None, bundle: EvidenceBundle) -> bool:
    return t is not None and bundle.window.start <= t <= bundle.window.end


def metric_anomalies(series: MetricSeries, k: float = 3.0) -> list[Anomaly]:
    values = [p.value for p in series.points]
    if len(values) < 4:
        return []
    mean, sd = statistics.fmean(values), statistics.pstdev(values)
    limit = mean + k * sd if sd > 0 else None
    return [Anomaly(time=p.timestamp, source="cloudwatch", score=round((p.value - mean) / sd, 2),
                    text=f"{series.name} {p.value:.1f} (평균 {mean:.1f} + {k:g}σ 초과)")
            for p in series.points if limit is not None and p.value > limit]


def metric_links(metrics: list[MetricSeries]) -> list[Anomaly]:
    """Pairs of metrics that move together (|Pearson r| ≥ 0.8 over shared timestamps)."""
    links = []
    for i, a in enumerate(metrics):
        for b in metrics[i + 1:]:
            common = sorted({p.timestamp for p in a.points} & {p.timestamp for p in b.points})
            if len(common) < 5:
                continue
            av = {p.timestamp: p.value for p in a.points}
            bv = {p.timestamp: p.value for p in b.points}
            try:
                r = statistics.correlation([av[t] for t in common], [bv[t] for t in common])
            except statistics.StatisticsError:
                continue
            if abs(r) >= 0.8:
                links.append(Anomaly(source="cloudwatch", score=round(r, 2),
                                     text=f"{a.name} ↔ {b.name} 상관계수 {r:.2f}"))
    return links


def cluster_anomalies(bundle: EvidenceBundle) -> list[Anomaly]:
    out = []
    for e in bundle.cluster.events:
        if e.type == "Warning" and (_in_window(e.last_time, bundle) or e.last_time is None):
            out.append(Anomaly(time=e.last_time, source="cluster",
                               text=f"{e.object_kind}/{e.object_name} {e.reason} ×{e.count}: {(e.message or '')[:160]}"))
    for p in bundle.cluster.pods:
        for c in p.containers:
            if c.restart_count:
                out.append(Anomaly(time=c.last_terminated_at, source="cluster",
                                   text=f"Pod/{p.name} `{c.name}` 재시작 {c.restart_count}회 ({c.last_termination_reason or '?'})"))
            if c.state == "waiting" and c.state_reason:
                out.append(Anomaly(source="cluster", text=f"Pod/{p.name} `{c.name}` 대기: {c.state_reason}"))
    for d in bundle.cluster.deployments:
        if d.replicas == 0 or d.ready_replicas < d.replicas:
            out.append(Anomaly(source="cluster", text=f"Deployment/{d.name} 준비 {d.ready_replicas}/{d.replicas}"))
        if d.replicas and d.updated_replicas and d.revisions and d.revisions[0].ready_replicas < d.revisions[0].replicas:
            out.append(Anomaly(source="cluster", time=d.revisions[0].created_at,
                               text=f"Deployment/{d.name} 롤아웃 미완료: 리비전 {d.revisions[0].revision} 준비 "
                                    f"{d.revisions[0].ready_replicas}/{d.revisions[0].replicas}"))
    for n in bundle.cluster.nodes:
        bad = [c.type for c in n.conditions if (c.type != "Ready" and c.status == "True") or (c.type == "Ready" and c.status != "True")]
        if bad:
            out.append(Anomaly(source="cluster", text=f"Node/{n.name} {', '.join(bad)}"))
    return out


def log_anomalies(bundle: EvidenceBundle) -> list[Anomaly]:
    errors = [l for l in bundle.logs if (l.level or "").upper() in ("ERROR", "FATAL", "CRITICAL")
              and (l.timestamp is None or _in_window(l.timestamp, bundle))]
    if not errors:
        return []
    kinds: dict[str, int] = {}
    for l in errors:
        kinds[l.error_type or l.message[:60]] = kinds.get(l.error_type or l.message[:60], 0) + 1
    top = sorted(kinds.items(), key=lambda kv: -kv[1])[:5]
    return [Anomaly(source="opensearch", text=f"에러 로그 {n}건: {k}") for k, n in top]


def similar_incidents(ctx: PhaseContext, cause: str | None = None) -> list[SimilarIncident]:
    """Past Incidents with the same alarm, the same workload, or (once known) the same top cause."""
    if ctx.settings.similar_incidents == 0:
        return []
    me = ctx.incident["metadata"]
    alarm = ctx.spec.alarm.name if ctx.spec.alarm else None
    affected = {(a.get("kind"), a.get("namespace"), a.get("name")) for a in ctx.status.get("affected") or []}
    labels = similarity_labels(ctx.spec.alarm, ctx.status.get("affected") or [])
    if cause and cause != "unknown":
        labels[LABEL_CAUSE] = cause
    where = memory_namespace(ctx.namespace, ctx.settings)  # a tenant's own namespace only
    candidates: dict[str, dict] = {}
    for key, value in labels.items():  # select by label instead of reading every Incident
        selector = f"{key}={value}"
        if selector not in ctx.similar_lists:  # correlate's lists serve diagnose too (same run)
            # bounded: the cost of the lookup must not grow with the number of past Incidents
            ctx.similar_lists[selector] = ctx.store.list(where, selector, limit=SIMILAR_SCAN)
        for other in ctx.similar_lists[selector]:
            if where is None or other["metadata"].get("namespace") == where:
                candidates[other["metadata"]["uid"]] = other
    found = []
    for other in candidates.values():
        meta = other["metadata"]
        if meta.get("uid") == me.get("uid"):
            continue
        ospec, ostatus = other.get("spec", {}), other.get("status", {})
        match = []
        if alarm and (ospec.get("alarm") or {}).get("name") == alarm:
            match.append("같은 알람")
        oaff = {(a.get("kind"), a.get("namespace"), a.get("name")) for a in ostatus.get("affected") or []}
        if affected & oaff:
            match.append("같은 워크로드")
        if cause and other["metadata"].get("labels", {}).get(LABEL_CAUSE) == cause:
            match.append("같은 원인")
        if match:
            found.append(SimilarIncident(name=f"{meta['namespace']}/{meta['name']}", alarm=(ospec.get("alarm") or {}).get("name"),
                                         top_cause=ostatus.get("topCause"), phase=ostatus.get("phase"),
                                         outcome=ostatus.get("outcome"),
                                         actions=[f"{a.get('action')}:{a.get('state')}" for a in ostatus.get("actions") or []],
                                         created_at=meta.get("creationTimestamp"), match=match))
    # most matches first, then newest; a missing time sorts last (and never compares a str to a datetime)
    found.sort(key=lambda s: (len(s.match), s.created_at or _EPOCH), reverse=True)
    return found[: ctx.settings.similar_incidents]


def past_fixes(ctx: PhaseContext, cause: str | None) -> list[dict[str, Any]]:
    """How often each fix held for this workload and cause: past Incidents labelled by their effectiveness check
    (netaiops.io/fix, netaiops.io/fix-result), one label-selected page, whatever the history."""
    labels = similarity_labels(ctx.spec.alarm, ctx.status.get("affected") or [])
    workload = labels.get(LABEL_WORKLOAD)
    if not workload or ctx.settings.similar_incidents == 0:
        return []
    selector = f"{LABEL_WORKLOAD}={workload},{LABEL_FIX_RESULT}"
    if cause and cause != "unknown":
        selector += f",{LABEL_CAUSE}={label_value(cause)}"
    where = memory_namespace(ctx.namespace, ctx.settings)
    items = [i for i in ctx.store.list(where, selector, limit=SIMILAR_SCAN)
             if i["metadata"].get("uid") != ctx.incident["metadata"].get("uid")]
    name = next((a.get("name") for a in ctx.status.get("affected") or [] if a.get("kind") not in ("Node", "Namespace")), workload)
    return rank_fixes(items, LABEL_FIX, LABEL_FIX_RESULT, str(name))


def run(ctx: PhaseContext) -> dict[str, Any]:
    bundle = ctx.evidence()
    anomalies = cluster_anomalies(bundle) + log_anomalies(bundle)
    for s in bundle.metrics:
        anomalies += metric_anomalies(s)
    anomalies += metric_links(bundle.metrics)
    dump = lambda xs: [x.model_dump(mode="json", by_alias=True, exclude_none=True) for x in xs]  # noqa: E731
    return {"anomalies": dump(anomalies[:MAX_ANOMALIES]), "similarIncidents": dump(similar_incidents(ctx))}
