"""Each remediation really changes the Deployment in the API — and only when policy allows it."""

from __future__ import annotations

import pytest
from kubernetes import client

from incident_operator.models.diagnosis import RemediationProposal
from incident_operator.phases import collect, gather
from incident_operator.phases.respond import settle
from incident_operator.remediation.actions import action_for
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


def test_delete_cpu_burner_deletes_the_chaos_deployment(kube, ns, settings):
    scenarios.cpu_burner(kube, ns)
    pods = [p.metadata.name for p in scenarios.pods_of(kube, ns, "cpu-burner")]
    p = RemediationProposal(action="delete-cpu-burner", target={"kind": "Deployment", "name": "cpu-burner", "namespace": ns},
                            params={"pods": pods, "deleteWorkload": 1})
    ctx = ctx_with_evidence(kube, settings, ns, "cpu", {"namespace": ns, "kind": "Deployment", "name": "cpu-burner"})
    assert settle(ctx, p, block=True)["state"] == "succeeded"
    wait_for(lambda: not scenarios.pods_of(kube, ns, "cpu-burner"), 30, "burner pods gone")
    with pytest.raises(client.ApiException) as err:
        kube.apps.read_namespaced_deployment("cpu-burner", ns)
    assert err.value.status == 404


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
    start_operator({"INCIDENT_REMEDIATION_VERIFY_SECONDS": "4", "INCIDENT_REMEDIATION_VERIFY_INTERVAL_SECONDS": "1"})
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
    kube.apps.patch_namespaced_deployment_scale("web", ns, {"spec": {"replicas": 0}})
    wait_for(lambda: not scenarios.pods_of(kube, ns, "web"), 30, "scaled to 0")
    cfg = Settings(remediation_verify_seconds=2, remediation_verify_interval_seconds=0.5, remediation_undo_unverified=True)
    p = RemediationProposal(action="restore-replicas", target={"kind": "Deployment", "name": "web", "namespace": ns},
                            params={"replicas": 2})
    ctx = ctx_with_evidence(kube, cfg, ns, "undo", {"namespace": ns, "kind": "Deployment", "name": "web"})
    entry = settle(ctx, p, block=True)
    assert entry["state"] == "unverified" and "되돌림" in entry["undo"]
    assert kube.apps.read_namespaced_deployment("web", ns).spec.replicas == 0
