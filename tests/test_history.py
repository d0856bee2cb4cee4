"""Cost independent of history: finished Incidents cost nothing when the operator starts, and the
lookups that touch past Incidents or issues are bounded."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from local_stack.cluster import wait_for
from local_stack.workloads import incident

HISTORY = 150


def test_finished_incidents_are_not_touched_at_start_up(kube, ns, incidents, start_operator):
    """Archived Incidents are outside the operator's watch (server-side label selector): not listed, not
    resumed, not patched. A finished one from before archiving existed is archived once."""
    def finished(i: int, archived: bool = True) -> tuple[str, str]:
        name = f"old-{i:03d}"
        body = incident(name, target={"namespace": ns})
        body["metadata"]["labels"] = {"netaiops.io/workload": "Deployment.x.y",
                                      **({"netaiops.io/archived": "true"} if archived else {})}
        incidents.create(body)
        done = kube.custom.patch_namespaced_custom_object_status("netaiops.io", "v1alpha1", ns, "incidents", name, {
            "status": {"phase": "NeedsAction", "finishedAt": "2026-11-25T00:00:00+00:00", "outcome": "needs-action"}})
        return name, done["metadata"]["resourceVersion"]
    with ThreadPoolExecutor(8) as pool:
        before = dict(pool.map(finished, range(HISTORY)))
    legacy, legacy_rv = finished(HISTORY, archived=False)
    start_operator()
    started = time.monotonic()
    incidents.create(incident("fresh", target={"namespace": ns}))
    incidents.wait_phase("fresh", ("Resolved", "NeedsAction", "Failed"), 60)
    picked_up = time.monotonic() - started
    items = kube.custom.list_namespaced_custom_object("netaiops.io", "v1alpha1", ns, "incidents")["items"]
    after = {i["metadata"]["name"]: i["metadata"]["resourceVersion"] for i in items if i["metadata"]["name"] in before}
    assert after == before  # not resumed, not patched: not one write for an archived Incident
    assert picked_up < 30
    wait_for(lambda: incidents.get(legacy)["metadata"]["labels"].get("netaiops.io/archived") == "true", 30, "legacy archived")
    assert incidents.get(legacy)["status"]["phase"] == "NeedsAction"  # archived, nothing else changed
    fresh = wait_for(lambda: (lambda i: i if i["metadata"]["labels"].get("netaiops.io/archived") == "true" else None)(
        incidents.get("fresh")), 30, "the finished Incident archived by the operator")
    # Kopf only watches: no diff base (a copy of the spec) or progress annotations on the Incident
    assert not [a for a in fresh["metadata"].get("annotations") or {} if a.startswith("kopf")]


def test_an_archived_incident_comes_back_for_a_recovery(kube, ns, incidents, start_operator):
    """The bridge takes the Incident out of the archive in the same write as the recovery."""
    from kubernetes import client as k8s

    from bridge_lambda.config import BridgeConfig
    from bridge_lambda.handler import handle
    from bridge_lambda.incidents import IncidentWriter

    from .test_bridge import _synthetic

    writer = IncidentWriter(k8s.ApiClient(), BridgeConfig(namespace=ns))
    start_operator({"INCIDENT_INCIDENT_NAMESPACES": ns})
    name = handle({"Records": [_synthetic(7)]}, None, writer)["results"][0]["incident"]
    wait_for(lambda: (lambda i: i if i["metadata"].get("labels", {}).get("netaiops.io/archived") == "true" else None)(
        incidents.get(name)), 60, "NeedsAction and archived")
    assert incidents.get(name)["status"]["phase"] == "NeedsAction"
    assert handle({"Records": [_synthetic(7, "OK")]}, None, writer)["results"][0]["status"] == "recovered"
    inc = incidents.wait_phase(name, "Resolved", 30)
    assert inc["status"]["report"]["closed"] and inc["status"]["outcome"] == "recovered"
    wait_for(lambda: incidents.get(name)["metadata"]["labels"].get("netaiops.io/archived") == "true", 30, "archived again")


def test_expiry_sweep_reads_pages(kube, ns, incidents):
    """The TTL sweep never holds the whole history: it reads pages with continue tokens."""
    from incident_operator.handlers import expire_finished
    from incident_operator.kube.incidents import IncidentStore

    for i in range(5):
        incidents.create(incident(f"exp-{i}", target={"namespace": ns}))
        kube.custom.patch_namespaced_custom_object_status("netaiops.io", "v1alpha1", ns, "incidents", f"exp-{i}", {
            "status": {"phase": "Failed", "finishedAt": "2026-01-01T00:00:00+00:00"}})
    store = IncidentStore(kube)
    sizes = []
    real = store.pages
    store.pages = lambda namespace=None, label_selector=None, page=200: (
        sizes.append(len(p)) or p for p in real(namespace, label_selector, page=2))
    assert expire_finished(store, 3600, [ns]) == 5
    assert sizes == [2, 2, 1] and not kube.custom.list_namespaced_custom_object("netaiops.io", "v1alpha1", ns, "incidents")["items"]


def test_similar_incident_lookup_reads_a_bounded_page(kube, ns, settings):
    from incident_operator.phases import correlate, gather

    from local_stack import scenarios

    calls = []
    ctx = scenarios.context(kube, settings, ns, incident("now", target={"namespace": ns, "kind": "Deployment", "name": "api"}))
    real = ctx.store.list

    def spy(*args, **kw):
        calls.append(kw.get("limit"))
        return real(*args, **kw)
    ctx.store.list = spy
    ctx.patch_status(gather.run(ctx))
    correlate.similar_incidents(ctx)
    assert calls and all(c == correlate.SIMILAR_SCAN for c in calls)


def test_archiving_never_hides_a_recovery_that_came_during_the_run(kube, ns, incidents):
    """A run takes the resourceVersion its own writes return, so the version it archives on can be newer than the
    spec it holds in memory: a recovery written meanwhile must leave the Incident in view, not archived."""
    from incident_operator.handlers import _labelled
    from incident_operator.kube.incidents import IncidentStore

    incidents.create(incident("late", target={"namespace": ns}))
    stale = kube.custom.patch_namespaced_custom_object_status("netaiops.io", "v1alpha1", ns, "incidents", "late", {
        "status": {"phase": "NeedsAction", "finishedAt": "2026-12-04T00:00:00+00:00",
                   "report": {"sink": "github", "ref": "7", "closed": False}}})
    recovered = kube.custom.patch_namespaced_custom_object("netaiops.io", "v1alpha1", ns, "incidents", "late", {
        "spec": {"recovery": {"recoveredAt": "2026-12-04T00:05:00Z"}}})
    stale["metadata"]["resourceVersion"] = recovered["metadata"]["resourceVersion"]  # the version, not the spec
    out = _labelled(IncidentStore(kube), stale)
    assert (out["metadata"].get("labels") or {}).get("netaiops.io/archived") != "true"
    assert (incidents.get("late")["metadata"].get("labels") or {}).get("netaiops.io/archived") != "true"
