"""One Incident per event: a node CPU alarm and the pod-restart alarms of pods on that node, or alarms on many
pods of one Deployment, become one parent Incident (analysed and reported once) with the others Grouped."""

from __future__ import annotations

from types import SimpleNamespace

from kubernetes import client

from incident_operator.grouping import find_parent

from local_stack import scenarios, workloads
from local_stack.github_server import TOKEN
from local_stack.workloads import incident

FINISHED = ("Resolved", "NeedsAction", "Failed", "Grouped")


def _env(github, ns: str, **extra: str) -> dict[str, str]:
    return {"GITHUB_TOKEN": TOKEN, "GITHUB_REPO": "acme/shop", "GITHUB_API_URL": github.url,
            "INCIDENT_GITHUB_WRITE_INTERVAL_SECONDS": "0", "INCIDENT_INCIDENT_NAMESPACES": ns, **extra}


def _pods_on_one_node(kube, ns: str, app: str, replicas: int, node: str = "kwok-node-1") -> list[str]:
    body = workloads.deployment(app, replicas=replicas)
    body["spec"]["template"]["spec"]["nodeSelector"] = {"kubernetes.io/hostname": node}
    scenarios.apply_deployment(kube, ns, body)
    scenarios.wait_ready(kube, ns, app, replicas)
    return sorted(p.metadata.name for p in scenarios.pods_of(kube, ns, app))


def test_a_node_alarm_and_the_restart_alarms_of_its_pods_are_one_incident(kube, ns, incidents, start_operator, github):
    pods = _pods_on_one_node(kube, ns, "api", 3)
    incidents.create(incident("node-cpu", severity="high", target={"kind": "Node", "name": "kwok-node-1"},
                              alarm={"name": "node-cpu-high", "state": "ALARM"}))
    for i, pod in enumerate(pods):
        incidents.create(incident(f"restarts-{i}", severity="high", target={"namespace": ns, "pod": pod},
                                  alarm={"name": "pod-restarts", "state": "ALARM"}))
    start_operator(_env(github, ns))
    names = ["node-cpu", *[f"restarts-{i}" for i in range(3)]]
    st = {n: incidents.wait_phase(n, FINISHED, 90)["status"] for n in names}
    parents = [n for n in names if st[n]["phase"] != "Grouped"]
    assert len(parents) == 1, {n: (s["phase"], s.get("parent")) for n, s in st.items()}
    parent = parents[0]
    for n in names:
        if n != parent:
            assert st[n]["parent"] == parent and st[n]["outcome"] == "grouped" and "report" not in st[n]
            assert incidents.get(n)["metadata"]["labels"]["netaiops.io/parent"] == parent
    assert len(github.issues) == 1  # reported once
    related = incidents.get(parent)["status"].get("relatedIncidents") or []
    body = "\n".join(c["body"] for c in github.comments.get(1, []))
    assert sorted(related) == sorted(f"{ns}/{n}" for n in names if n != parent), related
    assert "같은 이벤트로 묶인 알람" in body


def test_alarms_on_many_pods_of_one_deployment_open_one_issue(kube, ns, incidents, start_operator, github):
    pods = _pods_on_one_node(kube, ns, "web", 6, node="kwok-node-2")
    start_operator(_env(github, ns, INCIDENT_WORKERS="4"))
    for i, pod in enumerate(pods):  # a storm: one alarm per pod, while the operator runs
        incidents.create(incident(f"cpu-{i}", severity="high", target={"namespace": ns, "pod": pod},
                                  alarm={"name": f"pod-cpu-{pod}", "state": "ALARM"}))
    st = {f"cpu-{i}": incidents.wait_phase(f"cpu-{i}", FINISHED, 90)["status"] for i in range(len(pods))}
    assert sum(s["phase"] != "Grouped" for s in st.values()) == 1, {n: (s["phase"], s.get("parent")) for n, s in st.items()}
    assert len(github.issues) == 1


def test_grouping_off_keeps_one_incident_per_alarm(kube, ns, incidents, start_operator, github):
    pods = _pods_on_one_node(kube, ns, "db", 2)
    for i, pod in enumerate(pods):
        incidents.create(incident(f"r-{i}", target={"namespace": ns, "pod": pod}, alarm={"name": "pod-restarts", "state": "ALARM"}))
    start_operator(_env(github, ns, INCIDENT_GROUP_WINDOW_SECONDS="0"))
    st = [incidents.wait_phase(f"r-{i}", FINISHED, 90)["status"] for i in range(2)]
    assert all(s["phase"] != "Grouped" for s in st) and len(github.issues) == 2


def _ctx(listed: list[dict], parents: dict[str, dict]) -> SimpleNamespace:
    """Just what find_parent reads: a new Incident `new` on workload w, its labels' page and the parents by name."""
    def get(namespace: str, name: str) -> dict:
        if name not in parents:
            raise client.ApiException(status=404)
        return parents[name]
    return SimpleNamespace(
        settings=SimpleNamespace(group_window_seconds=600, namespaces=["shop"]), namespace="shop", similar_lists={},
        incident={"metadata": {"name": "new", "namespace": "shop", "creationTimestamp": "2026-01-01T00:10:00Z"}},
        store=SimpleNamespace(list=lambda namespace, selector, limit: listed, get=get))


def _inc(name: str, phase: str, parent: str | None = None) -> dict:
    labels = {"netaiops.io/workload": "w", **({"netaiops.io/parent": parent} if parent else {})}
    return {"metadata": {"name": name, "namespace": "shop", "creationTimestamp": "2026-01-01T00:05:00Z", "labels": labels},
            "status": {"phase": phase, "completedPhases": ["Gathering"]}}


def test_a_new_alarm_is_not_grouped_under_a_finished_event_through_its_children():
    """A Resolved/Failed parent is over, but its Grouped children keep `netaiops.io/parent`: a new alarm in the
    window must not join it through them (it would never be analysed)."""
    labels = {"netaiops.io/workload": "w"}
    for phase in ("Resolved", "Failed"):
        old = _inc("old", phase)
        assert find_parent(_ctx([old, _inc("old-child", "Grouped", "old")], {"old": old}), labels) is None, phase
        # the parent outside this page (an older one, or listed under the other label): read by name
        assert find_parent(_ctx([_inc("old-child", "Grouped", "old")], {"old": old}), labels) is None, phase
    assert find_parent(_ctx([_inc("old-child", "Grouped", "deleted")], {}), labels) is None
    # an event still going on is joined, directly or through its child
    going = _inc("old", "NeedsAction")
    assert find_parent(_ctx([_inc("old-child", "Grouped", "old")], {"old": going}), labels) == ("old", "같은 워크로드")
    assert find_parent(_ctx([going, _inc("old-child", "Grouped", "old")], {"old": going}), labels) == ("old", "같은 워크로드")
