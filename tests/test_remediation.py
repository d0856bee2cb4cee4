"""Each remediation really changes the Deployment in the API — and only when policy allows it."""

from __future__ import annotations

import pytest
from kubernetes import client

from incident_operator.models.diagnosis import RemediationProposal
from incident_operator.phases import collect, gather
from incident_operator.phases.respond import remediate
from incident_operator.remediation.actions import action_for
from incident_operator.settings import Settings

from .support import scenarios
from .support.cluster import wait_for
from .support.workloads import incident


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
    entry = remediate(ctx, p)
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
    entry = remediate(ctx, p)
    assert entry["state"] == "succeeded" and entry["before"] == {"replicas": 0} and entry["after"] == {"replicas": 3}
    scenarios.wait_ready(kube, ns, "web", 3)


def test_delete_cpu_burner_deletes_the_chaos_deployment(kube, ns, settings):
    scenarios.cpu_burner(kube, ns)
    pods = [p.metadata.name for p in scenarios.pods_of(kube, ns, "cpu-burner")]
    p = RemediationProposal(action="delete-cpu-burner", target={"kind": "Deployment", "name": "cpu-burner", "namespace": ns},
                            params={"pods": pods, "deleteWorkload": 1})
    ctx = ctx_with_evidence(kube, settings, ns, "cpu", {"namespace": ns, "kind": "Deployment", "name": "cpu-burner"})
    assert remediate(ctx, p)["state"] == "succeeded"
    wait_for(lambda: not scenarios.pods_of(kube, ns, "cpu-burner"), 30, "burner pods gone")
    with pytest.raises(client.ApiException) as err:
        kube.apps.read_namespaced_deployment("cpu-burner", ns)
    assert err.value.status == 404


def test_dry_run_records_but_does_not_touch(kube, ns, settings):
    scenarios.scaled_to_zero(kube, ns, replicas=2)
    p = RemediationProposal(action="restore-replicas", target={"kind": "Deployment", "name": "web", "namespace": ns},
                            params={"replicas": 2})
    ctx = ctx_with_evidence(kube, settings, ns, "dry", {"namespace": ns, "kind": "Deployment", "name": "web"}, "dry-run")
    entry = remediate(ctx, p)
    assert entry["state"] == "dry-run" and entry["before"] == {"replicas": 0}
    assert kube.apps.read_namespaced_deployment("web", ns).spec.replicas == 0
    assert ctx.status["actions"][0]["state"] == "dry-run"


def test_protected_namespace_and_unrelated_targets_are_refused(kube, ns):
    scenarios.scaled_to_zero(kube, ns, replicas=1)
    protected = Settings(protected_namespaces=[ns])
    ctx = ctx_with_evidence(kube, protected, ns, "prot", {"namespace": ns, "kind": "Deployment", "name": "web"})
    p = RemediationProposal(action="restore-replicas", target={"kind": "Deployment", "name": "web", "namespace": ns},
                            params={"replicas": 1})
    entry = remediate(ctx, p)
    assert entry["state"] == "skipped" and "보호된 네임스페이스" in entry["message"]
    assert kube.apps.read_namespaced_deployment("web", ns).spec.replicas == 0

    # a target the evidence does not show (say, a proposal about another Deployment) is refused too
    ctx2 = ctx_with_evidence(kube, Settings(), ns, "other", {"namespace": ns, "kind": "Deployment", "name": "web"})
    elsewhere = RemediationProposal(action="delete-cpu-burner", target={"kind": "Deployment", "name": "payments", "namespace": ns},
                                    params={"deleteWorkload": 1})
    assert remediate(ctx2, elsewhere)["message"].startswith("증거에 없는 대상")


def test_remediation_is_not_repeated_once_recorded(kube, ns, settings):
    scenarios.scaled_to_zero(kube, ns, replicas=2)
    p = RemediationProposal(action="restore-replicas", target={"kind": "Deployment", "name": "web", "namespace": ns},
                            params={"replicas": 2})
    ctx = ctx_with_evidence(kube, settings, ns, "once", {"namespace": ns, "kind": "Deployment", "name": "web"})
    remediate(ctx, p)
    kube.apps.patch_namespaced_deployment_scale("web", ns, {"spec": {"replicas": 0}})  # someone scales it down again
    assert remediate(ctx, p)["state"] == "succeeded"
    assert kube.apps.read_namespaced_deployment("web", ns).spec.replicas == 0  # recorded action is not re-run
    assert action_for("restore-replicas", kube).is_applied(p) is False
