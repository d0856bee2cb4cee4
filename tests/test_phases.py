"""Each phase on its own, against the real API, in the order the pipeline runs them."""

from __future__ import annotations

import time

import pytest

from incident_operator import pipeline
from incident_operator.evidence_store import configmap_name, load
from incident_operator.phases import collect, correlate, diagnose, gather, report, respond
from incident_operator.sources import EvidenceSource, SourceResult

from local_stack import scenarios, workloads
from local_stack.workloads import incident

ALARM = {
    "name": "netaiops-cpu-spike", "state": "ALARM", "threshold": 80, "timestamp": "2026-11-25T01:00:00Z",
    "metric": {"name": "pod_cpu_utilization", "namespace": "ContainerInsights", "comparisonOperator": "GreaterThanThreshold"},
    "reason": "Threshold Crossed: 2 out of the last 3 datapoints were greater than the threshold (80.0).",
}


def alarm_for(ns: str, **dims) -> dict:
    return {**ALARM, "dimensions": {"ClusterName": "demo", "Namespace": ns, **dims}}


def test_gather_infers_workload_type_and_window_from_alarm(kube, ns, settings):
    scenarios.cpu_burner(kube, ns, "burner")
    ctx = scenarios.context(kube, settings, ns, incident("g", alarm=alarm_for(ns, PodName="burner")))
    out = gather.run(ctx)
    assert out["incidentType"] == "pod-cpu-spike"
    # Container Insights' PodName is the workload name: resolved to the Deployment
    assert out["target"] == {"namespace": ns, "kind": "Deployment", "name": "burner", "cluster": "demo"}
    assert out["affected"] == [{"kind": "Deployment", "namespace": ns, "name": "burner"}]
    assert out["window"]["start"].startswith("2026-11-25T00:30") and out["window"]["end"].startswith("2026-11-25T01:30")


def test_report_opens_once_even_when_run_twice(kube, ns, settings, incidents):
    ctx = scenarios.context(kube, settings, ns, incident("r", alarm=alarm_for(ns)))
    ctx.patch_status(gather.run(ctx))
    first, second = report.run(ctx), report.run(ctx)
    assert first["report"]["ref"] == second["report"]["ref"] == f"incident/{ns}/r"
    opened = incidents.events("r", "ReportOpened")
    assert len(opened) == 1 and opened[0].message.startswith("[인시던트] netaiops-cpu-spike 알람 발생")
    assert "severity:high" in opened[0].message and "auto-analysis" in opened[0].message


class SlowSource(EvidenceSource):
    name = "cloudwatch"

    def collect(self, target, alarm, window):
        time.sleep(5)
        return SourceResult()


class BrokenSource(EvidenceSource):
    name = "opensearch"

    def collect(self, target, alarm, window):
        raise ConnectionError("connect to https://search.example failed, token=s3cr3t-value")


def test_collect_records_each_source_outcome_and_keeps_evidence(kube, ns, incidents):
    from incident_operator.settings import Settings
    scenarios.bad_rollout(kube, ns)
    ctx = scenarios.context(kube, Settings(source_timeout_seconds=1), ns,
                            incident("c", target={"namespace": ns, "kind": "Deployment", "name": "api"}))
    ctx.sources = ctx.sources[:1] + [SlowSource(), BrokenSource()] + ctx.sources[3:]
    ctx.patch_status(gather.run(ctx))
    out = collect.run(ctx)
    outcomes = {s["source"]: s for s in out["evidence"]["sources"]}
    assert outcomes["kubernetes"]["outcome"] == "ok" and outcomes["kubernetes"]["items"] > 0
    assert outcomes["cloudwatch"]["outcome"] == "timed-out"
    assert outcomes["opensearch"]["outcome"] == "failed" and "s3cr3t" not in outcomes["opensearch"]["detail"]
    assert outcomes["datadog"]["outcome"] == "not-configured"
    assert out["evidence"]["deployments"] == 1
    stored = load(kube, ns, "c")
    assert stored is not None and stored.cluster.deployments[0].name == "api"
    assert {r.revision for r in stored.cluster.deployments[0].revisions} == {1, 2}
    cm = kube.core.read_namespaced_config_map(configmap_name("c"), ns)
    assert cm.metadata.owner_references[0].kind == "Incident"  # garbage-collected with its Incident


def test_merging_two_suspects_evidence_keeps_every_kind_of_both():
    """The collect phase merges the evidence of an alarm's other suspects (ClusterSource.also): every list of
    ClusterEvidence survives, each object once — PVCs, Services, NetworkPolicies as much as pods."""
    from typing import get_args

    from incident_operator.models.evidence import ClusterEvidence, PvcEvidence, ServiceEvidence
    from incident_operator.sources import merge

    kinds = [f for f, info in ClusterEvidence.model_fields.items() if get_args(info.annotation)]

    def part(*names: str) -> ClusterEvidence:
        return ClusterEvidence(**{f: [get_args(ClusterEvidence.model_fields[f].annotation)[0].model_validate(
            {"name": f"{f}-{n}", "namespace": "shop", "objectName": f"{f}-{n}", "reason": "X", "verb": "list",
             "resource": "configmaps"}) for n in names]
            for f in kinds})

    a, b = part("a", "both"), part("b", "both")
    a.pvcs.append(PvcEvidence(name="data", namespace="shop", phase="Pending"))
    b.services.append(ServiceEvidence(name="db", namespace="shop", matching_pods=0))
    merged = merge(a, b)
    assert [p.name for p in merged.pvcs] == ["pvcs-a", "pvcs-both", "data", "pvcs-b"]
    assert [s.name for s in merged.services] == ["services-a", "services-both", "services-b", "db"]
    assert len(kinds) >= 12  # pods ... ingresses: every list field is checked
    for f in kinds:
        got = [getattr(x, "name", None) or x.object_name for x in getattr(merged, f)]
        assert sorted(got) == sorted({*got}) and {f"{f}-a", f"{f}-b", f"{f}-both"} <= {*got}, (f, got)
    assert SourceResult(cluster=merged).items == sum(len(getattr(merged, f)) for f in kinds)


def test_collect_fails_when_no_source_works(kube, ns, settings):
    ctx = scenarios.context(kube, settings, ns, incident("none", target={"namespace": ns}))
    ctx.sources = [BrokenSource()]
    ctx.patch_status(gather.run(ctx))
    with pytest.raises(RuntimeError, match="모든 증거 소스가 실패"):
        collect.run(ctx)


def test_correlate_finds_anomalies_and_similar_past_incidents(kube, ns, settings, incidents):
    scenarios.bad_rollout(kube, ns)
    target = {"namespace": ns, "kind": "Deployment", "name": "api"}
    earlier_ctx = scenarios.context(kube, settings, ns, incident("earlier", target=target))
    earlier_ctx.patch_status(gather.run(earlier_ctx))  # it went through the pipeline before
    other_ctx = scenarios.context(kube, settings, ns, incident("other", target={**target, "name": "unrelated"}))
    other_ctx.patch_status(gather.run(other_ctx))
    earlier = earlier_ctx.incident
    kube.custom.patch_namespaced_custom_object_status("netaiops.io", "v1alpha1", ns, "incidents", "earlier", {"status": {
        "phase": "Resolved", "topCause": "image-pull: api", "outcome": "remediated",
        "actions": [{"action": "rollback-image", "state": "succeeded"}],
        "affected": [{"kind": "Deployment", "namespace": ns, "name": "api"}]}})
    ctx = scenarios.context(kube, settings, ns, incident("now", target=target))
    ctx.patch_status(gather.run(ctx))
    ctx.patch_status(collect.run(ctx))
    out = correlate.run(ctx)
    assert any("ImagePullBackOff" in a["text"] for a in out["anomalies"])
    assert any("Deployment/api 롤아웃 미완료: 리비전 2" in a["text"] for a in out["anomalies"])
    similar = out["similarIncidents"]
    assert similar[0]["name"] == f"{ns}/earlier" and similar[0]["topCause"] == "image-pull: api"
    assert similar[0]["outcome"] == "remediated" and similar[0]["actions"] == ["rollback-image:succeeded"]
    assert [x["name"] for x in similar] == [f"{ns}/earlier"]  # not the Incident about another workload
    labels = incidents.get("now")["metadata"]["labels"]
    assert labels["netaiops.io/workload"] == f"Deployment.{ns}.api"
    assert earlier["metadata"]["name"] == "earlier"


def test_diagnose_ranks_causes_and_posts_analysis(kube, ns, settings, incidents):
    scenarios.bad_rollout(kube, ns)
    ctx = scenarios.context(kube, settings, ns, incident("d", target={"namespace": ns, "kind": "Deployment", "name": "api"}))
    for phase in (gather, report, collect, correlate):
        ctx.patch_status(phase.run(ctx))
    out = diagnose.run(ctx)
    assert out["engine"] == "rules" and out["topCause"] == "image-pull: api"
    assert out["causes"][0]["rank"] == 1 and out["causes"][0]["evidence"]
    assert out["timeline"] and out["guide"]["immediate"]
    assert [e.message for e in incidents.events("d", "ReportComment")] == ["원인 분석 결과"]


def test_respond_without_known_fix_leaves_report_open_with_guide(kube, ns, settings, incidents):
    scenarios.apply_deployment(kube, ns, workloads.deployment("hungry", replicas=1, fault="oom", limits={"memory": "64Mi"}))
    scenarios.wait_pod_state(kube, ns, "hungry", "CrashLoopBackOff")
    ctx = scenarios.context(kube, settings, ns, incident("o", target={"namespace": ns, "kind": "Deployment", "name": "hungry"}))
    for phase in (gather, report, collect, correlate, diagnose):
        ctx.patch_status(phase.run(ctx))
    out = respond.run(ctx)
    assert out["outcome"] == "needs-action" and out["report"]["closed"] is False
    md = out["report"]["markdown"]
    for section in ("## 요약", "## 영향 범위", "## 타임라인", "## 근본 원인 후보", "## 대응 가이드", "### 즉시 조치", "### 장기 개선", "## 복구 결과"):
        assert section in md
    assert "OOMKilled" in md
    assert not incidents.events("o", "ReportClosed")


def test_invalid_spec_fails_incident_with_korean_reason(kube, ns, settings):
    body = incident("weird", target={"namespace": ns})
    ctx = scenarios.context(kube, settings, ns, body)
    ctx.incident["spec"]["options"]["windowMinutes"] = "soon"  # what a newer/older CRD might let through
    assert pipeline.run(ctx) == "Failed"
    assert ctx.status["phase"] == "Failed" and "Incident spec를 해석할 수 없습니다" in ctx.status["lastError"]


@pytest.mark.parametrize("stamp", ["9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z"])
def test_an_absurd_alarm_time_is_a_note_not_a_crashed_phase(kube, ns, settings, stamp):
    ctx = scenarios.context(kube, settings, ns, incident("when", alarm={**alarm_for(ns), "timestamp": stamp}))
    out = gather.run(ctx)
    assert "범위를 벗어나" in out["window"]["note"]
    created = ctx.incident["metadata"]["creationTimestamp"][:16]
    assert out["window"]["anchor"][:16] == created.replace("Z", "")[:16]


def test_the_ttl_sweep_handles_each_incident_on_its_own(kube, ns):
    from incident_operator.handlers import expire_finished
    from incident_operator.kube.incidents import IncidentStore

    store = IncidentStore(kube)
    for name, finished in (("naive", "2020-01-01T00:00:00"), ("garbage", "not a time"), ("fine", "2020-01-01T00:00:00+00:00")):
        kube.custom.create_namespaced_custom_object("netaiops.io", "v1alpha1", ns, "incidents", incident(name, target={"namespace": ns}))
        kube.custom.patch_namespaced_custom_object_status("netaiops.io", "v1alpha1", ns, "incidents", name, {
            "status": {"phase": "Resolved", "finishedAt": finished}})
    assert expire_finished(store, 3600, [ns]) == 2  # the timezone-less one as UTC; the garbage one skipped
    assert [i["metadata"]["name"] for i in store.list(ns)] == ["garbage"]


def test_a_run_writes_status_once_per_phase_boundary(kube, ns, settings):
    """Progress is written after each phase (the next phase's start carries the result), and Gathering, which
    only reads, starts in the same write as Reporting: six status writes for six phases and the finish."""
    ctx = scenarios.context(kube, settings, ns, incident("count", target={"namespace": ns}))
    writes: list[dict] = []
    real = ctx.store.patch_status
    ctx.store.patch_status = lambda *a, **kw: writes.append(a[2]) or real(*a, **kw)
    assert pipeline.run(ctx) == "NeedsAction"
    assert len(writes) == 6
    first = writes[0]
    assert first["phase"] == "Reporting" and first["completedPhases"] == ["Gathering"]
    assert first["claim"]["holder"] == settings.identity  # claimed before the report leaves the cluster
    assert "startedAt" in first["phases"]["Gathering"] and "finishedAt" in first["phases"]["Gathering"]
