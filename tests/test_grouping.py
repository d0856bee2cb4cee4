"""One Incident per event: a node CPU alarm and the pod-restart alarms of pods on that node, or alarms on many
pods of one Deployment, become one parent Incident (analysed and reported once) with the others Grouped."""

from __future__ import annotations

from .support import scenarios, workloads
from .support.github_server import TOKEN
from .support.workloads import incident

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
    assert related and set(related) <= {f"{ns}/{n}" for n in names if n != parent}, related
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
