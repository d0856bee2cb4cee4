"""Each remediation really changes the Deployment in the API — and only when policy allows it."""

from __future__ import annotations

import pytest
from kubernetes import client

from incident_operator.analyzers import analyze
from incident_operator.models.diagnosis import RemediationProposal
from incident_operator.models.spec import Target
from incident_operator.phases import collect, gather
from incident_operator.phases.respond import settle
from incident_operator.remediation.actions import action_for, rollout_complete
from incident_operator.remediation.policy import decide
from incident_operator.settings import Settings

from local_stack import scenarios, workloads
from local_stack.cluster import wait_for
from local_stack.workloads import incident


def ctx_with_evidence(kube, settings, ns, name, target, remediation="auto"):
    ctx = scenarios.context(kube, settings, ns, incident(name, target=target, remediation=remediation))
    ctx.patch_status(gather.run(ctx))
    ctx.patch_status(collect.run(ctx))
    return ctx


def test_rollback_restores_last_working_image(kube, ns, settings):
    scenarios.bad_rollout(kube, ns)
    p = RemediationProposal(action="rollback-image", target={"kind": "Deployment", "name": "api", "namespace": ns},
                            params={"toRevision": 1, "images": ["nginx:1.27"]})
    ctx = ctx_with_evidence(kube, settings, ns, "rb", {"namespace": ns, "kind": "Deployment", "name": "api"})
    entry = settle(ctx, p, block=True)
    assert entry["state"] == "succeeded"
    assert entry["before"]["images"] == ["nginx:9.99-does-not-exist"] and entry["after"]["images"] == ["nginx:1.27"]
    dep = kube.apps.read_namespaced_deployment("api", ns)
    assert dep.spec.template.spec.containers[0].image == "nginx:1.27"
    assert "pod-template-hash" not in dep.spec.template.metadata.labels
    scenarios.wait_ready(kube, ns, "api", 2)  # the rolled-back pods really run again


def test_restore_replicas_scales_back_up(kube, ns, settings):
    scenarios.scaled_to_zero(kube, ns, replicas=3)
    p = RemediationProposal(action="restore-replicas", target={"kind": "Deployment", "name": "web", "namespace": ns},
                            params={"replicas": 3})
    ctx = ctx_with_evidence(kube, settings, ns, "sc", {"namespace": ns, "kind": "Deployment", "name": "web"})
    entry = settle(ctx, p, block=True)  # returns once the rollout is complete, not when the API took the write
    assert entry["state"] == "succeeded" and entry["before"] == {"replicas": 0} and entry["after"] == {"replicas": 3}
    assert entry["verifiedAt"] and "준비 3/3" in entry["message"]
    scenarios.wait_ready(kube, ns, "web", 3)


def test_dry_run_records_but_does_not_touch(kube, ns, settings):
    scenarios.scaled_to_zero(kube, ns, replicas=2)
    p = RemediationProposal(action="restore-replicas", target={"kind": "Deployment", "name": "web", "namespace": ns},
                            params={"replicas": 2})
    ctx = ctx_with_evidence(kube, settings, ns, "dry", {"namespace": ns, "kind": "Deployment", "name": "web"}, "dry-run")
    entry = settle(ctx, p, block=True)
    assert entry["state"] == "dry-run" and entry["before"] == {"replicas": 0}
    assert kube.apps.read_namespaced_deployment("web", ns).spec.replicas == 0
    assert ctx.status["actions"][0]["state"] == "dry-run"


def test_protected_namespace_and_unrelated_targets_are_refused(kube, ns):
    scenarios.scaled_to_zero(kube, ns, replicas=1)
    protected = Settings(protected_namespaces=[ns])
    ctx = ctx_with_evidence(kube, protected, ns, "prot", {"namespace": ns, "kind": "Deployment", "name": "web"})
    p = RemediationProposal(action="restore-replicas", target={"kind": "Deployment", "name": "web", "namespace": ns},
                            params={"replicas": 1})
    entry = settle(ctx, p, block=True)
    assert entry["state"] == "skipped" and "보호된 네임스페이스" in entry["message"]
    assert kube.apps.read_namespaced_deployment("web", ns).spec.replicas == 0

    # a target the evidence does not show (say, a proposal about another Deployment) is refused too
    # (another Incident on the same Deployment would be grouped under the first: grouping is not the subject here)
    ctx2 = ctx_with_evidence(kube, Settings(group_window_seconds=0), ns, "other", {"namespace": ns, "kind": "Deployment", "name": "web"})
    elsewhere = RemediationProposal(action="delete-cpu-burner", target={"kind": "Deployment", "name": "payments", "namespace": ns},
                                    params={"deleteWorkload": 1})
    assert settle(ctx2, elsewhere)["message"].startswith("증거에 없는 대상")


def test_remediation_is_not_repeated_once_recorded(kube, ns, settings):
    scenarios.scaled_to_zero(kube, ns, replicas=2)
    p = RemediationProposal(action="restore-replicas", target={"kind": "Deployment", "name": "web", "namespace": ns},
                            params={"replicas": 2})
    ctx = ctx_with_evidence(kube, settings, ns, "once", {"namespace": ns, "kind": "Deployment", "name": "web"})
    assert settle(ctx, p, block=True)["state"] == "succeeded"
    kube.apps.patch_namespaced_deployment_scale("web", ns, {"spec": {"replicas": 0}})  # someone scales it down again
    assert settle(ctx, p, block=True)["state"] == "succeeded"
    assert kube.apps.read_namespaced_deployment("web", ns).spec.replicas == 0  # recorded action is not re-run
    assert action_for("restore-replicas", kube).is_applied(p) is False


def test_a_rollback_that_never_becomes_healthy_is_unverified_and_not_closed(kube, ns, incidents, start_operator):
    """The API accepting the write is not a fix: the rolled-back pods never become ready."""
    scenarios.apply_deployment(kube, ns, workloads.deployment("api", image="nginx:1.27", replicas=2, fault="not-ready"))
    scenarios.wait_pod_state(kube, ns, "api", None)
    workloads.set_image_with_fault(kube.apps, ns, "api", "nginx:9.99-does-not-exist", "image-pull")
    scenarios.wait_pod_state(kube, ns, "api", "ImagePullBackOff")
    start_operator({"INCIDENT_REMEDIATION_VERIFY_SECONDS": "4", "INCIDENT_REMEDIATION_VERIFY_INTERVAL_SECONDS": "1",
                    "INCIDENT_REMEDIATION_UNDO_UNVERIFIED": "false"})  # the undo has its own tests (test_approval.py)
    incidents.create(incident("never", target={"namespace": ns, "kind": "Deployment", "name": "api"}))
    st = incidents.wait_phase("never", ("Resolved", "NeedsAction", "Failed"), 60)["status"]
    assert st["phase"] == "NeedsAction" and st["outcome"] == "unverified", st.get("lastError")
    [action] = st["actions"]
    assert action["action"] == "rollback-image" and action["state"] == "unverified" and "정상화되지 않음" in action["message"]
    assert kube.apps.read_namespaced_deployment("api", ns).spec.template.spec.containers[0].image == "nginx:1.27"  # it did act
    assert st["report"]["closed"] is False and not incidents.events("never", "ReportClosed")
    assert [e.type for e in incidents.events("never", "RemediationUnverified")] == ["Warning"]
    ready = next(c for c in st["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False" and ready["reason"] == "RemediationUnverified"
    assert "정상화 미확인" in st["report"]["markdown"] and "복구 완료" not in st["report"]["markdown"]
    assert st["phases"]["Responding"]["runs"] == 1  # waiting for the rollout is not a re-run


def test_an_unverified_restore_is_undone_when_configured(kube, ns):
    scenarios.apply_deployment(kube, ns, workloads.deployment("web", replicas=2, fault="not-ready"))
    scenarios.wait_pod_state(kube, ns, "web", None)
    scenarios.chaos_scale_to_zero(kube, ns, "web")
    cfg = Settings(remediation_verify_seconds=2, remediation_verify_interval_seconds=0.5, remediation_undo_unverified=True)
    p = RemediationProposal(action="restore-replicas", target={"kind": "Deployment", "name": "web", "namespace": ns},
                            params={"replicas": 2})
    ctx = ctx_with_evidence(kube, cfg, ns, "undo", {"namespace": ns, "kind": "Deployment", "name": "web"})
    entry = settle(ctx, p, block=True)
    assert entry["state"] == "unverified" and "되돌림" in entry["undo"]
    assert entry["undoState"] == "verified" and entry["undoVerifiedAt"]  # back at 0, seen by the controller
    assert kube.apps.read_namespaced_deployment("web", ns).spec.replicas == 0


# ---- grounded in what the API server recorded (issue 23, finding 5) ------------------------------------------------

def kubectl(kubeconfig: str, *args: str) -> str:
    """The real kubectl, so managedFields name it as they would for a person at a terminal."""
    import subprocess

    from local_stack.cluster import kubectl_path
    return subprocess.run([kubectl_path(), "--kubeconfig", kubeconfig, *args], capture_output=True, text=True, check=True).stdout


def forge_scaled_down_event(kube, ns: str, deployment: str, rs: str, replicas: int) -> None:
    """What a tenant who may create Events writes: the deployment controller's message, word for word."""
    kube.core.create_namespaced_event(ns, client.CoreV1Event(
        metadata=client.V1ObjectMeta(generate_name=f"{deployment}."), type="Normal", reason="ScalingReplicaSet",
        message=f"Scaled down replica set {rs} from {replicas} to 0", source=client.V1EventSource(component="deployment-controller"),
        involved_object=client.V1ObjectReference(kind="Deployment", name=deployment, namespace=ns, api_version="apps/v1")))


def replica_sets(kube, ns: str, app: str) -> list[str]:
    return [r.metadata.name for r in kube.apps.list_namespaced_replica_set(ns, label_selector=f"app={app}").items]


def finished(incidents, name: str) -> dict:
    return incidents.wait_phase(name, ("Resolved", "NeedsAction", "Failed"), 60)["status"]


def test_owner_scaled_to_zero_for_maintenance_is_left_alone(kube, ns, kubeconfig, incidents, start_operator):
    """The owner ran `kubectl scale --replicas=0`; a tenant with only create-Incident rights asks for the fix."""
    scenarios.apply_deployment(kube, ns, workloads.deployment("web", replicas=3))
    scenarios.wait_ready(kube, ns, "web", 3)
    kubectl(kubeconfig, "scale", "deployment/web", "-n", ns, "--replicas=0")
    wait_for(lambda: not scenarios.pods_of(kube, ns, "web"), 30, "scaled to 0")
    start_operator()
    incidents.create(incident("maint", target={"namespace": ns, "kind": "Deployment", "name": "web"}))
    st = finished(incidents, "maint")
    assert st["phase"] == "NeedsAction", st.get("lastError")
    assert kube.apps.read_namespaced_deployment("web", ns).spec.replicas == 0  # as its owner left it
    assert not st.get("actions")
    [cause] = [c for c in st["causes"] if c["kind"] == "scaled-to-zero"]
    assert not cause.get("remediation") and "자동 복구 안 함" in cause["title"]
    texts = " ".join(e["text"] for e in cause["evidence"])
    assert "`kubectl scale`" in texts and "의도된 축소" in texts and "되돌리지 않습니다" in texts


def test_forged_scaled_down_event_never_sets_the_replica_count(kube, ns, kubeconfig, incidents, start_operator):
    """A forged "from 40 to 0" Event: on a Deployment its owner scaled down it changes nothing; on one the chaos
    tool scaled down, the count is the deployment controller's own record (2), never the Event's 40. (The issue's
    Event said 400; 40 keeps the old code's run of this test light on a shared machine.)"""
    scenarios.apply_deployment(kube, ns, workloads.deployment("owned", replicas=2))
    scenarios.wait_ready(kube, ns, "owned", 2)
    kubectl(kubeconfig, "scale", "deployment/owned", "-n", ns, "--replicas=0")
    # a rollout first, so the old ReplicaSet keeps the controller's record of the Deployment's replicas (2)
    scenarios.apply_deployment(kube, ns, workloads.deployment("chaosed", replicas=2))
    scenarios.wait_ready(kube, ns, "chaosed", 2)
    kube.apps.patch_namespaced_deployment("chaosed", ns, {"spec": {"template": {"metadata": {"annotations": {"rev": "2"}}}}})
    wait_for(lambda: rollout_complete(kube.apps.read_namespaced_deployment("chaosed", ns))[0]
             and len(replica_sets(kube, ns, "chaosed")) == 2, 30, "rolled out")
    kube.apps.patch_namespaced_deployment("chaosed", ns, {"spec": {"replicas": 0}}, field_manager="netaiops-chaos")
    wait_for(lambda: not scenarios.pods_of(kube, ns, "owned") and not scenarios.pods_of(kube, ns, "chaosed"), 30, "scaled to 0")
    for name in ("owned", "chaosed"):
        for rs in replica_sets(kube, ns, name):
            forge_scaled_down_event(kube, ns, name, rs, 40)
    start_operator({"INCIDENT_REMEDIATION_VERIFY_INTERVAL_SECONDS": "0.5"})
    incidents.create(incident("forged", target={"namespace": ns, "kind": "Deployment", "name": "owned"}))
    incidents.create(incident("forged2", target={"namespace": ns, "kind": "Deployment", "name": "chaosed"}))
    st = finished(incidents, "forged")
    assert st["phase"] == "NeedsAction" and not st.get("actions"), st.get("lastError")
    assert kube.apps.read_namespaced_deployment("owned", ns).spec.replicas == 0
    st2 = finished(incidents, "forged2")
    assert st2["phase"] == "Resolved", (st2.get("lastError"), st2.get("actions"))
    [action] = st2["actions"]
    assert action["action"] == "restore-replicas" and action["params"] == {"replicas": 2} and action["state"] == "succeeded"
    dep = kube.apps.read_namespaced_deployment("chaosed", ns)
    assert dep.spec.replicas == 2
    assert [f.manager for f in dep.metadata.managed_fields if "f:replicas" in (f.fields_v1 or {}).get("f:spec", {})] == ["incident-operator"]


def test_restore_refuses_a_count_the_records_do_not_support(kube, ns, settings):
    """The proposal's number (the model's, or anyone's) is checked against the API's record, at decision and at apply."""
    scenarios.scaled_to_zero(kube, ns, replicas=2)
    ctx = ctx_with_evidence(kube, settings, ns, "big", {"namespace": ns, "kind": "Deployment", "name": "web"})
    p = RemediationProposal(action="restore-replicas", target={"kind": "Deployment", "name": "web", "namespace": ns},
                            params={"replicas": 400})
    entry = settle(ctx, p, block=True)
    assert entry["state"] == "skipped" and "400" in entry["message"] and "2" in entry["message"], entry
    with pytest.raises(RuntimeError, match="벗어남"):
        action_for("restore-replicas", kube, settings).apply(p)
    assert kube.apps.read_namespaced_deployment("web", ns).spec.replicas == 0


def test_maintenance_annotation_and_hpa_are_intent(kube, ns, settings):
    """Even a chaos tool's scale-down stays when the owner marked maintenance, or when an HPA owns the scale."""
    scenarios.scaled_to_zero(kube, ns, "maint", replicas=1)
    kube.apps.patch_namespaced_deployment("maint", ns, {"metadata": {"annotations": {"netaiops.io/maintenance": "DB migration"}}})
    scenarios.scaled_to_zero(kube, ns, "scaled", replicas=1)
    kube.autoscaling.create_namespaced_horizontal_pod_autoscaler(ns, {
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "scaled"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "scaled"},
                 "minReplicas": 1, "maxReplicas": 3}})
    for name, why in (("maint", "유지보수"), ("scaled", "HPA")):
        bundle = scenarios.evidence(kube, Target(namespace=ns, kind="Deployment", name=name))
        [cause] = [c for c in analyze(bundle).causes if c.kind == "scaled-to-zero"]
        assert cause.remediation is None and why in " ".join(e.text for e in cause.evidence), cause
        p = RemediationProposal(action="restore-replicas", target={"kind": "Deployment", "name": name, "namespace": ns},
                                params={"replicas": 1})
        decision = decide(p, "auto", bundle, settings)
        assert decision.mode == "skip" and why in decision.reason
        assert kube.apps.read_namespaced_deployment(name, ns).spec.replicas == 0


def stress_sidecar_app(kube, ns: str, name: str = "shop") -> None:
    body = workloads.deployment(name, replicas=2)
    body["spec"]["template"]["spec"]["containers"].append(
        {"name": "load", "image": "alexeiled/stress-ng:latest", "args": ["--cpu", "1"]})
    scenarios.apply_deployment(kube, ns, body)
    scenarios.wait_ready(kube, ns, name, 2)


def test_app_with_a_stress_sidecar_is_not_deleted_whatever_the_alarm_says(kube, ns, incidents, start_operator):
    stress_sidecar_app(kube, ns)
    before = {p.metadata.uid for p in scenarios.pods_of(kube, ns, "shop")}
    start_operator()
    alarm = {"name": "netaiops-cpu-spike-critical-cpu", "metric": {"name": "pod_cpu_utilization"},
             "dimensions": {"Namespace": ns, "PodName": "shop"}, "timestamp": "2026-11-25T01:00:00Z"}
    incidents.create(incident("sidecar", alarm=alarm))
    st = finished(incidents, "sidecar")
    assert st["phase"] == "NeedsAction", st.get("lastError")
    assert {p.metadata.uid for p in scenarios.pods_of(kube, ns, "shop")} == before  # the app's pods, untouched
    assert kube.apps.read_namespaced_deployment("shop", ns)
    [cause] = [c for c in st["causes"] if c["kind"] == "cpu-burner"]
    assert not cause.get("remediation") and "애플리케이션도" in " ".join(e["text"] for e in cause["evidence"])
    assert not [a for a in st.get("actions") or [] if a.get("state") == "succeeded"]


def test_a_burner_is_deleted_only_on_measured_usage(kube, ns, settings, aws):
    """A stress image alone is not enough: without a measured CPU series nothing is deleted; with one it is."""
    from .test_tools_cloudwatch import put_series

    scenarios.cpu_burner(kube, ns)
    pods = [p.metadata.name for p in scenarios.pods_of(kube, ns, "cpu-burner")]
    p = RemediationProposal(action="delete-cpu-burner", target={"kind": "Deployment", "name": "cpu-burner", "namespace": ns},
                            params={"pods": pods, "deleteWorkload": 1})
    unmeasured = ctx_with_evidence(kube, settings, ns, "nomet", {"namespace": ns, "kind": "Deployment", "name": "cpu-burner"})
    entry = settle(unmeasured, p, block=True)
    assert entry["state"] == "skipped" and "측정된 CPU 사용량" in entry["message"]
    assert kube.apps.read_namespaced_deployment("cpu-burner", ns)

    cluster = f"demo-{ns}"
    put_series(aws, "pod_cpu_utilization", {"ClusterName": cluster, "Namespace": ns, "PodName": "cpu-burner"}, [40, 97, 99])
    measured = settings.model_copy(update={"aws_region": "ap-northeast-2", "aws_endpoint_url": aws.endpoint,
                                           "cluster_name": cluster, "group_window_seconds": 0})
    ctx = ctx_with_evidence(kube, measured, ns, "met", {"namespace": ns, "kind": "Deployment", "name": "cpu-burner"})
    assert settle(ctx, p, block=True)["state"] == "succeeded"
    wait_for(lambda: not scenarios.pods_of(kube, ns, "cpu-burner"), 30, "burner pods gone")
    with pytest.raises(client.ApiException) as err:
        kube.apps.read_namespaced_deployment("cpu-burner", ns)
    assert err.value.status == 404


def test_replica_plan_who_scaled_decides_and_records_bound_the_count():
    """The pure rule behind restore-replicas (no cluster: every input is a recorded field)."""
    from incident_operator.models.evidence import DeploymentEvidence, FieldWriter, HpaEvidence, RevisionEvidence
    from incident_operator.remediation.policy import replica_plan

    s = Settings()

    def dep(manager: str | None, prev: str | None = None, prev_by: str | None = None, revisions=(), declared=None, **ann):
        return DeploymentEvidence(
            name="web", namespace="shop", replicas=0, declared_replicas=declared,
            replicas_writer=FieldWriter(manager=manager) if manager else None,
            annotations={**({"netaiops.io/previous-replicas": prev} if prev else {}), **ann},
            annotation_writers={"netaiops.io/previous-replicas": FieldWriter(manager=prev_by)} if prev_by else {},
            revisions=list(revisions))

    for person in ("kubectl", "kubectl-scale", "kubectl-client-side-apply", "kubectl-edit"):
        assert replica_plan(dep(person, "3", person), [], s).refusal.startswith("소유자가 kubectl로")
    assert "HPA" in replica_plan(dep("kube-controller-manager"), [], s).refusal
    assert "운영자 자신" in replica_plan(dep("incident-operator"), [], s).refusal
    assert "의도된 변경" in replica_plan(dep("argocd-application-controller", "3", "argocd-application-controller"), [], s).refusal
    assert "scale 하위 리소스" in replica_plan(dep(None, "3", "chaos-mesh"), [], s).refusal  # `kubectl scale` records no one
    hpa = HpaEvidence(name="web", namespace="shop", target_kind="Deployment", target_name="web")
    assert "HPA `web`" in replica_plan(dep("chaos-mesh"), [hpa], s).refusal
    assert "유지보수" in replica_plan(dep("chaos-mesh", **{"netaiops.io/maintenance": "x"}), [], s).refusal
    # the chaos tool's own note counts only when managedFields show it wrote it
    assert replica_plan(dep("chaos-mesh", "3", "chaos-mesh"), [], s).replicas == 3
    assert replica_plan(dep("chaos-mesh", "3", "kubectl-annotate"), [], s).replicas is None
    # the deployment controller's record wins, and bounds anything else
    old = RevisionEvidence(revision=1, replica_set="web-1", desired_replicas=4, max_replicas=5)
    new = RevisionEvidence(revision=2, replica_set="web-2", desired_replicas=0, max_replicas=0)
    assert replica_plan(dep("chaos-mesh", "400", "chaos-mesh", [new, old]), [], s).replicas == 4
    only_max = RevisionEvidence(revision=1, replica_set="web-1", max_replicas=5)
    plan = replica_plan(dep("chaos-mesh", "400", "chaos-mesh", [only_max]), [], s)
    assert plan.replicas == 5 and "최댓값 5" in plan.origin
    assert replica_plan(dep("chaos-mesh", "400", "chaos-mesh"), [], s).replicas == s.remediation_max_replicas
    assert replica_plan(dep("chaos-mesh", declared=3), [], s).replicas == 3
