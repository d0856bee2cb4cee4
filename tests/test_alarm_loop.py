"""The seed's loop end to end on the real node: a container's CPU → Container Insights → the cpu-spike alarm
(created by `alarms setup`, evaluated like CloudWatch) → SNS → the bridge Lambda's handler → Incident →
cpu-burner removed → CPU falls → the alarm's contributor back to OK → the recovery noted on the Incident.
Nothing here writes a notification or a metric by hand."""

from __future__ import annotations

import pytest

from local_stack import faults as F
from local_stack.cluster import wait_for
from local_stack.loop import AlarmLoop, fast_alarms
from local_stack.real_node import NODE_NAME

pytestmark = pytest.mark.cluster
CLUSTER = "loop-test"


@pytest.fixture(scope="module", autouse=True)
def forget_the_modules_metrics(aws):
    """The real node's metrics, published every few seconds while this module runs, are of no use after it: the
    session's CloudWatch drops them (moto scans every datapoint it holds on each read)."""
    yield
    aws.forget_metrics(CLUSTER)


def bridge(kube, ns):
    """The bridge Lambda's handler as this test's function: its Incidents go to the test's namespace (a warm
    Lambda keeps its writer, so each test hands its own)."""
    from bridge_lambda.config import BridgeConfig
    from bridge_lambda.handler import handle
    from bridge_lambda.incidents import IncidentWriter
    writer = IncidentWriter(kube.core.api_client, BridgeConfig(namespace=ns))
    return lambda event: handle(event, None, writer)


@pytest.fixture
def loop(kube, ns, real_node, monkeypatch, kubeconfig, aws):
    handle = bridge(kube, ns)
    # one busy core of the real node's two is 50 % of the node: the cpu-spike threshold is set for that size
    running = AlarmLoop(aws, kube.core.api_client, CLUSTER, fast_alarms(period=10, cpu_threshold=20), handle).start()
    yield aws, running
    running.stop()


def alarm_incidents(kube, ns, alarm):
    """The alarm's Incidents about this test's namespace (the agent publishes every pod of the real node, so
    another test's pods may be contributors too; the bridge files all of them here)."""
    items = kube.custom.list_namespaced_custom_object("netaiops.io", "v1alpha1", ns, "incidents")["items"]
    return [i for i in items if (i["spec"].get("alarm") or {}).get("name") == alarm
            and (i["spec"].get("target") or {}).get("namespace") == ns]


def test_a_burning_pod_fires_cpu_spike_is_removed_the_alarm_recovers_and_a_second_episode_is_a_second_incident(kube, ns, loop, start_operator):
    aws, running = loop
    burner = F.deployment("burner", [F.container(
        image=F.STRESS, command=["stress-ng", "--cpu", "1", "--cpu-load", "100", "--timeout", "600s"],
        resources={"limits": {"cpu": "800m"}})])
    kube.apps.create_namespaced_deployment(ns, burner)
    start_operator({"INCIDENT_AWS_ENDPOINT_URL": aws.endpoint, "INCIDENT_AWS_REGION": "ap-northeast-2",
                    "INCIDENT_CLUSTER_NAME": CLUSTER, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"})
    incs = wait_for(lambda: alarm_incidents(kube, ns, "netaiops-cpu-spike"), 150,
                    f"the cpu-spike alarm's Incident (local stack: {running.errors()})")
    assert len(incs) == 1
    inc = incs[0]
    name = inc["metadata"]["name"]
    assert inc["spec"]["target"]["pod"] == "burner" and inc["spec"]["target"]["namespace"] == ns
    fired = [h for h in running.evaluator.history if h["alarm"] == "netaiops-cpu-spike" and h["new"] == "ALARM"]
    assert {"Namespace": ns, "PodName": "burner"} in [h["contributor"] for h in fired]

    get = lambda: kube.custom.get_namespaced_custom_object("netaiops.io", "v1alpha1", ns, "incidents", name)  # noqa: E731
    st = wait_for(lambda: (lambda x: x if (x.get("status") or {}).get("phase") in ("Resolved", "NeedsAction", "Failed") else None)(get()),
                  120, "the Incident finished")["status"]
    assert st["topCause"].startswith("cpu-burner"), st.get("causes")
    assert st["phase"] == "Resolved" and st["actions"][0]["action"] == "delete-cpu-burner"
    wait_for(lambda: not kube.core.list_namespaced_pod(ns, label_selector="app=burner").items, 60, "burner gone")

    # the metric falls (no datapoints for the pod: notBreaching), the contributor returns to OK, the bridge
    # records the recovery on the same Incident and the operator notes it
    wait_for(lambda: any(h["alarm"] == "netaiops-cpu-spike" and h["new"] == "OK" and h["contributor"] == {"Namespace": ns, "PodName": "burner"}
                         for h in running.evaluator.history), 120, "the contributor back to OK")
    wait_for(lambda: (get()["spec"].get("recovery") or {}).get("recoveredAt"), 60, "the recovery on the Incident")
    assert len(alarm_incidents(kube, ns, "netaiops-cpu-spike")) == 1   # nothing duplicated by the alarm-level notifications

    # the workload flaps: the same burner comes back (a chaos schedule firing again) within minutes of the OK —
    # ALARM, OK, ALARM for one contributor through the evaluator: a second episode is a second Incident, the
    # recovery stays on the first, nothing is duplicated
    kube.apps.create_namespaced_deployment(ns, burner)
    wait_for(lambda: len(alarm_incidents(kube, ns, "netaiops-cpu-spike")) >= 2, 150,
             f"the second episode's Incident (notifications {[(h['new'], h['contributor']) for h in running.evaluator.history]})")
    who = {"Namespace": ns, "PodName": "burner"}
    assert [h["new"] for h in running.evaluator.history if h["contributor"] == who][:3] == ["ALARM", "OK", "ALARM"]
    incs = sorted(alarm_incidents(kube, ns, "netaiops-cpu-spike"), key=lambda i: i["spec"]["alarm"]["timestamp"])
    assert len(incs) == 2 and incs[0]["metadata"]["name"] == name
    assert incs[0]["spec"]["alarm"]["timestamp"] < incs[1]["spec"]["alarm"]["timestamp"]
    assert (incs[0]["spec"].get("recovery") or {}).get("recoveredAt")
    assert not (incs[1]["spec"].get("recovery") or {}).get("recoveredAt")


@pytest.fixture
def restarts_loop(kube, ns, real_node, monkeypatch, kubeconfig, aws):
    handle = bridge(kube, ns)
    # the seed's pod-restarts alarm (MAX of pod_number_of_container_restarts), with a threshold a short test reaches
    alarms = [a for a in fast_alarms(period=10, restarts_threshold=1) if a.name == "netaiops-pod-restarts"]
    running = AlarmLoop(aws, kube.core.api_client, CLUSTER, alarms, handle).start()
    yield aws, running
    running.stop()


def test_a_real_crash_loop_fires_pod_restarts_and_is_diagnosed_as_crash_loop(kube, ns, restarts_loop, start_operator):
    aws, running = restarts_loop
    kube.apps.create_namespaced_deployment(ns, F.deployment("payments", [F.container(
        command=F.sh("echo 'payments: FATAL: DATABASE_URL is not set' >&2; exit 3"))]))
    start_operator({"INCIDENT_AWS_ENDPOINT_URL": aws.endpoint, "INCIDENT_AWS_REGION": "ap-northeast-2",
                    "INCIDENT_CLUSTER_NAME": CLUSTER, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"})
    try:
        incs = wait_for(lambda: alarm_incidents(kube, ns, "netaiops-pod-restarts"), 180, "the pod-restarts alarm's Incident")
    except AssertionError as exc:   # what the local stack saw, at the time of failure
        raise AssertionError(f"{exc}; local stack errors {running.errors()}; notifications "
                             f"{[(h['new'], h['contributor']) for h in running.evaluator.history]}; bridge "
                             f"{running.pump.results[-3:]}; contributors {running.evaluator.contributors}; "
                             f"agent ticks {running.publisher.ticks}") from None
    assert len(incs) == 1 and incs[0]["spec"]["target"]["pod"] == "payments"
    name = incs[0]["metadata"]["name"]
    get = lambda: kube.custom.get_namespaced_custom_object("netaiops.io", "v1alpha1", ns, "incidents", name)  # noqa: E731
    st = wait_for(lambda: (lambda x: x if (x.get("status") or {}).get("phase") in ("Resolved", "NeedsAction", "Failed") else None)(get()),
                  120, "the Incident finished")["status"]
    assert st["causes"][0]["kind"] == "crash-loop", (st.get("target"), st.get("affected"), st.get("evidence"), st["causes"])
    assert "DATABASE_URL" in str(st["causes"][0])   # the container's own last words, from the kubelet
    assert st["phase"] == "NeedsAction"              # no native fix for an application that exits: a person acts


def test_a_burner_fires_node_cpu_high_and_the_operator_finds_it_on_the_node(kube, ns, real_node, aws, start_operator):
    """The seed's node-cpu-high alarm (Metrics Insights over the cluster's nodes, one contributor per node): a
    stress-ng pod with no CPU limit takes one of the real node's two cores, the node's contributor fires, the
    bridge files a Node Incident in the operator's incident namespace, and the operator finds the burner among
    the node's pods, removes it and verifies the node's CPU fell."""
    handle = bridge(kube, ns)
    alarms = [a for a in fast_alarms(period=10, node_threshold=35) if a.name == "netaiops-node-cpu-high"]
    running = AlarmLoop(aws, kube.core.api_client, CLUSTER, alarms, handle).start()
    try:
        kube.apps.create_namespaced_deployment(ns, F.deployment("node-hog", [F.container(
            image=F.STRESS, command=["stress-ng", "--cpu", "1", "--cpu-load", "100", "--timeout", "600s"])]))
        start_operator({"INCIDENT_AWS_ENDPOINT_URL": aws.endpoint, "INCIDENT_AWS_REGION": "ap-northeast-2",
                        "INCIDENT_CLUSTER_NAME": CLUSTER, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "INCIDENT_INCIDENT_NAMESPACES": ns,
                        # a burner is deleted on measured CPU ≥ this floor (default 50 %): one core of this 2-core
                        # node is 50 % at best, its minute averages less — set for the node's size like the threshold
                        "INCIDENT_REMEDIATION_BURNER_MIN_CPU_PERCENT": "30"})
        incs = wait_for(lambda: [i for i in kube.custom.list_namespaced_custom_object("netaiops.io", "v1alpha1", ns, "incidents")["items"]
                                 if (i["spec"].get("alarm") or {}).get("name") == "netaiops-node-cpu-high"], 150,
                        f"the node-cpu-high alarm's Incident (local stack: {running.errors()}; "
                        f"notifications {[(h['new'], h['contributor']) for h in running.evaluator.history]})")
        assert len(incs) == 1, [i["spec"]["target"] for i in incs]
        target = incs[0]["spec"]["target"]
        assert target.get("kind") == "Node" and target.get("name") == NODE_NAME, target
        name = incs[0]["metadata"]["name"]
        get = lambda: kube.custom.get_namespaced_custom_object("netaiops.io", "v1alpha1", ns, "incidents", name)  # noqa: E731
        st = wait_for(lambda: (lambda x: x if (x.get("status") or {}).get("phase") in ("Resolved", "NeedsAction", "Failed") else None)(get()),
                      150, "the Incident finished")["status"]
        assert st.get("causes"), st
        top = st["causes"][0]
        assert top["kind"] == "cpu-burner" and "node-hog" in str(top.get("resource")), st["causes"]
        assert st["phase"] == "Resolved" and st["actions"][0]["action"] == "delete-cpu-burner", (st["phase"], st.get("actions"))
        wait_for(lambda: not kube.core.list_namespaced_pod(ns, label_selector="app=node-hog").items, 60, "node-hog gone")
    finally:
        running.stop()

