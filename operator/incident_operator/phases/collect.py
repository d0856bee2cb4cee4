"""Phase 3: every evidence source in parallel, each allowed to fail or time out on its own."""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor, TimeoutError as FutureTimeout
from typing import Any

from kubernetes.client import ApiException

from .. import evidence_store, failpoints, metrics
from ..models.evidence import ClusterEvidence, EvidenceBundle, SourceOutcome, TimeWindow
from ..models.spec import Target
from ..redact import redact
from ..tenancy import Refused
from ..kube import access
from ..sources import ClusterSource, NotConfigured, SourceResult
from .context import PhaseContext

log = logging.getLogger(__name__)


def run(ctx: PhaseContext) -> dict[str, Any]:
    failpoints.hit("collect.start")
    target = Target.model_validate(ctx.status.get("target") or {})
    window = TimeWindow.model_validate(ctx.status["window"])
    alarm = ctx.spec.alarm
    outcomes: list[SourceOutcome] = []
    results: list[SourceResult] = []
    timeout = ctx.settings.source_timeout_seconds
    suspects = [Target(namespace=a.get("namespace"), pod=a["name"]) if a.get("kind") == "Pod" else
                Target(kind="Node", name=a["name"], node=a["name"])
                for a in (ctx.status.get("affected") or [])[1:] if a.get("reason") and a.get("kind") in ("Pod", "Node")]
    for source in ctx.sources:
        if hasattr(source, "also"):
            source.also = suspects
    pool = ThreadPoolExecutor(max_workers=max(1, len(ctx.sources)), thread_name_prefix="collect")
    started = time.monotonic()
    futures = [(s, pool.submit(s.collect, target, alarm, window)) for s in ctx.sources]
    try:
        for source, fut in futures:
            remaining = max(0.1, timeout - (time.monotonic() - started))
            t0 = time.monotonic()
            try:
                res = fut.result(timeout=remaining)
                results.append(res)
                outcomes.append(SourceOutcome(source=source.name, outcome="ok", items=res.items,
                                              duration_ms=int(1000 * (time.monotonic() - started))))
            except NotConfigured as exc:
                outcomes.append(SourceOutcome(source=source.name, outcome="not-configured", detail=str(exc)))
            except FutureTimeout:
                fut.cancel()
                outcomes.append(SourceOutcome(source=source.name, outcome="timed-out",
                                              detail=f"{timeout:.0f}초 안에 응답 없음",
                                              duration_ms=int(1000 * (time.monotonic() - t0))))
            except Exception as exc:  # noqa: BLE001 - a source failing is an outcome, not a crash
                outcomes.append(SourceOutcome(source=source.name, outcome="failed",
                                              detail=redact(f"{type(exc).__name__}: {exc}")[:300]))
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    for o in outcomes:
        metrics.TOOL_CALLS.labels(o.source, o.outcome).inc()
    cluster = next((r.cluster for r in results if r.cluster is not None), ClusterEvidence())
    bundle = EvidenceBundle(
        incident=f"{ctx.namespace}/{ctx.name}", alarm=alarm, target=target, window=window, cluster=cluster,
        metrics=[m for r in results for m in r.metrics], logs=[l for r in results for l in r.logs],
        sources=outcomes)
    bundle = _refusals_in_logs(ctx, bundle, max(1.0, timeout - (time.monotonic() - started)))
    if not any(o.outcome == "ok" for o in outcomes):
        raise RuntimeError("모든 증거 소스가 실패했습니다: " + ", ".join(f"{o.source}={o.outcome}" for o in outcomes))
    bundle = evidence_store.redacted(bundle)
    try:
        cm = evidence_store.save(ctx.kube, ctx.incident, bundle)
    except ApiException as exc:
        if exc.status == 403:  # permanent until an admin grants it: say so, do not retry
            raise Refused("EvidenceStoreForbidden",
                          f"네임스페이스 `{ctx.namespace}`에 증거 ConfigMap을 쓸 권한이 없습니다. 관리자가 "
                          f"`incident-operator rbac -n {ctx.namespace} | kubectl apply -f -`로 허용해야 합니다") from None
        raise
    except evidence_store.NotOwned as exc:
        raise Refused("EvidenceConfigMapNotOwned", f"ConfigMap `{exc}`이(가) 이미 있고 이 Incident의 것이 아닙니다") from None
    ctx.remember_evidence(bundle)
    return {"evidence": {
        "configMap": cm,
        "sources": [o.model_dump(mode="json", by_alias=True, exclude_none=True) for o in outcomes],
        "pods": len(cluster.pods), "events": len(cluster.events), "deployments": len(cluster.deployments),
        "nodes": len(cluster.nodes), "metrics": len(bundle.metrics), "logs": len(bundle.logs),
    }}


def _refusals_in_logs(ctx: PhaseContext, bundle: EvidenceBundle, timeout: float) -> EvidenceBundle:
    """A ServiceAccount refusal only the log index holds (not the pods' log tails or Events the cluster source read):
    the same RBAC reads (kube/evidence.py service_account_access), after the sources, within what is left of their
    time; failing or late, the bundle stands without them."""
    cluster = next((s for s in ctx.sources if isinstance(s, ClusterSource)), None)
    ns = bundle.target.namespace
    if cluster is None or not ns or not bundle.logs:
        return bundle
    known = {access.evidence_key(a) for a in bundle.cluster.service_accounts}
    # the known ones are filtered out before the cap: three the cluster source read must not hide a fourth
    refused = [r for r in access.refusals((l.message for l in bundle.logs), most=access.MAX_REQUESTS + len(known))
               if r.key not in known][:access.MAX_REQUESTS]
    if not refused:
        return bundle
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="collect-rbac")
    try:
        found = pool.submit(cluster.collector.service_account_access, ns, refused).result(timeout=min(timeout, 15))
    except Exception as exc:  # noqa: BLE001 - optional evidence: late or failed, the rest stands
        log.info("no RBAC evidence for the refusals in the logs: %s", type(exc).__name__)
        return bundle
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return bundle.model_copy(update={"cluster": bundle.cluster.model_copy(
        update={"service_accounts": bundle.cluster.service_accounts + found})})
