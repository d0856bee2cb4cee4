"""Each analyzer, on evidence read from the real API about a workload that is really broken there."""

from __future__ import annotations


from kubernetes import client

from incident_operator.analyzers import analyze
from incident_operator.models.spec import Alarm, Target

from local_stack import scenarios, workloads
from local_stack.cluster import wait_for


bundle_for = scenarios.evidence


def deployment_target(ns: str, name: str) -> Target:
    return Target(namespace=ns, kind="Deployment", name=name)


def test_cpu_burner_is_found_from_its_image_and_args(kube, ns):
    scenarios.cpu_burner(kube, ns)
    alarm = Alarm(name="netaiops-cpu-spike", metric={"name": "pod_cpu_utilization"}, threshold=80)
    d = analyze(bundle_for(kube, deployment_target(ns, "cpu-burner"), alarm))
    top = d.causes[0]
    assert top.kind == "cpu-burner" and top.resource.name == "cpu-burner"
    assert top.confidence >= 0.9  # image + matching CPU alarm
    assert top.remediation.action == "delete-cpu-burner" and top.remediation.params["deleteWorkload"] == 1
    assert any("stress-ng" in e.text for e in top.evidence)


def test_busy_loop_command_counts_as_cpu_burner(kube, ns):
    scenarios.apply_deployment(kube, ns, workloads.deployment(
        "looper", image="busybox:1.36", replicas=1, command=["sh", "-c", "while true; do :; done"]))
    scenarios.wait_ready(kube, ns, "looper", 1)
    d = analyze(bundle_for(kube, deployment_target(ns, "looper")))
    assert d.causes[0].kind == "cpu-burner"


def test_healthy_workload_has_no_cluster_side_cause(kube, ns):
    scenarios.apply_deployment(kube, ns, workloads.deployment("calm", replicas=2, limits={"cpu": "500m"}))
    scenarios.wait_ready(kube, ns, "calm", 2)
    d = analyze(bundle_for(kube, deployment_target(ns, "calm")))
    assert [c.kind for c in d.causes] == ["unknown"]


def test_invalid_image_proposes_rollback_to_last_working_revision(kube, ns):
    scenarios.bad_rollout(kube, ns)
    d = analyze(bundle_for(kube, deployment_target(ns, "api")))
    top = d.causes[0]
    assert top.kind == "image-pull"
    assert top.remediation.action == "rollback-image"
    assert top.remediation.params["toRevision"] == 1 and top.remediation.params["images"] == ["nginx:1.27"]


def test_image_pull_auth_failure_is_not_rolled_back_blindly(kube, ns):
    scenarios.apply_deployment(kube, ns, workloads.deployment(
        "private", image="registry.example/private:1", replicas=1, fault="image-pull-auth"))
    scenarios.wait_pod_state(kube, ns, "private", "ErrImagePull")
    top = analyze(bundle_for(kube, deployment_target(ns, "private"))).causes[0]
    assert top.kind == "image-pull" and "인증" in top.title and top.remediation is None


def test_scaled_to_zero_finds_the_replica_count_the_chaos_tool_recorded(kube, ns):
    scenarios.scaled_to_zero(kube, ns, replicas=3)
    wait_for(lambda: any("to 0" in (e.message or "") for e in kube.core.list_namespaced_event(ns).items), 20, "scale-down event")
    top = analyze(bundle_for(kube, deployment_target(ns, "web"))).causes[0]
    assert top.kind == "scaled-to-zero"
    assert top.remediation.action == "restore-replicas" and top.remediation.params["replicas"] == 3


def test_crash_loop_reports_exit_code(kube, ns):
    scenarios.apply_deployment(kube, ns, workloads.deployment("crasher", replicas=1, fault="crash-loop"))
    scenarios.wait_pod_state(kube, ns, "crasher", "CrashLoopBackOff")
    top = analyze(bundle_for(kube, deployment_target(ns, "crasher"),
                             Alarm(name="netaiops-pod-restarts", metric={"name": "pod_number_of_container_restarts"}))).causes[0]
    assert top.kind == "crash-loop" and "exit code 1" in top.title
    assert top.confidence >= 0.85  # restart alarm agrees


def test_oom_killed_is_told_apart_from_a_plain_crash(kube, ns):
    scenarios.apply_deployment(kube, ns, workloads.deployment("hungry", replicas=1, fault="oom", limits={"memory": "64Mi"}))
    scenarios.wait_pod_state(kube, ns, "hungry", "CrashLoopBackOff")
    causes = analyze(bundle_for(kube, deployment_target(ns, "hungry"))).causes
    assert causes[0].kind == "oom-killed" and "64Mi" in causes[0].title
    assert "crash-loop" not in [c.kind for c in causes]


def test_missing_configmap_is_named(kube, ns):
    scenarios.apply_deployment(kube, ns, workloads.deployment("needs-config", replicas=1, fault="missing-config"))
    scenarios.wait_pod_state(kube, ns, "needs-config", "CreateContainerConfigError")
    top = analyze(bundle_for(kube, deployment_target(ns, "needs-config"))).causes[0]
    assert top.kind == "missing-config" and "app-settings" in top.title


def test_unschedulable_pod_from_the_real_scheduler(kube, ns):
    scenarios.apply_deployment(kube, ns, workloads.deployment("huge", replicas=1, requests={"cpu": "500"}))
    wait_for(lambda: any(c.reason == "Unschedulable" for p in scenarios.pods_of(kube, ns, "huge")
                         for c in (p.status.conditions or [])), 30, "scheduler to give up")
    top = analyze(bundle_for(kube, deployment_target(ns, "huge"))).causes[0]
    assert top.kind == "unschedulable" and "Insufficient cpu" in top.title


def test_failing_readiness_probe(kube, ns):
    scenarios.apply_deployment(kube, ns, workloads.deployment("flaky", replicas=1, fault="not-ready", readiness=True))
    scenarios.wait_pod_state(kube, ns, "flaky", None)
    pod = scenarios.pods_of(kube, ns, "flaky")[0]
    kube.core.create_namespaced_event(ns, client.CoreV1Event(
        metadata=client.V1ObjectMeta(generate_name="flaky."), type="Warning", reason="Unhealthy",
        message="Readiness probe failed: HTTP probe failed with statuscode: 503", count=4,
        involved_object=client.V1ObjectReference(kind="Pod", name=pod.metadata.name, namespace=ns)))
    top = analyze(bundle_for(kube, deployment_target(ns, "flaky"))).causes[0]
    assert top.kind == "probe-failure" and "readiness" in top.title


def test_node_pressure_from_node_conditions(kube, ns):
    name = f"pressured-{ns}"
    kube.core.create_node(client.V1Node(metadata=client.V1ObjectMeta(name=name)))
    try:
        kube.core.patch_node_status(name, {"status": {"conditions": [
            {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "ok"},
            {"type": "MemoryPressure", "status": "True", "reason": "KubeletHasInsufficientMemory",
             "message": "available memory is 80Mi"}]}})
        top = analyze(bundle_for(kube, Target(kind="Node", name=name, node=name))).causes[0]
        assert top.kind == "node-pressure" and "MemoryPressure=True" in top.title
    finally:
        kube.core.delete_node(name)


def test_node_cpu_alarm_points_at_noisy_neighbour(kube, ns):
    scenarios.cpu_burner(kube, ns, "noisy")
    node = scenarios.pods_of(kube, ns, "noisy")[0].spec.node_name
    alarm = Alarm(name="netaiops-node-cpu-high", metric={"name": "node_cpu_utilization"}, threshold=85,
                  dimensions={"NodeName": node})
    causes = analyze(bundle_for(kube, Target(namespace=ns, node=node), alarm)).causes
    kinds = [c.kind for c in causes]
    assert kinds[0] == "cpu-burner" and "node-pressure" in kinds
