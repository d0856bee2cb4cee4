"""Cost independent of history: finished Incidents cost nothing when the operator starts, and the
lookups that touch past Incidents or issues are bounded."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from .support.workloads import incident

HISTORY = 150


def test_finished_incidents_are_not_touched_at_start_up(kube, ns, incidents, start_operator):
    def finished(i: int) -> tuple[str, str]:
        name = f"old-{i:03d}"
        body = incident(name, target={"namespace": ns})
        body["metadata"]["labels"] = {"netaiops.io/workload": "Deployment.x.y"}
        incidents.create(body)
        done = kube.custom.patch_namespaced_custom_object_status("netaiops.io", "v1alpha1", ns, "incidents", name, {
            "status": {"phase": "NeedsAction", "finishedAt": "2026-11-25T00:00:00+00:00", "outcome": "needs-action"}})
        return name, done["metadata"]["resourceVersion"]
    with ThreadPoolExecutor(8) as pool:
        before = dict(pool.map(finished, range(HISTORY)))
    start_operator()
    started = time.monotonic()
    incidents.create(incident("fresh", target={"namespace": ns}))
    incidents.wait_phase("fresh", ("Resolved", "NeedsAction", "Failed"), 60)
    picked_up = time.monotonic() - started
    after = {i["metadata"]["name"]: i["metadata"]["resourceVersion"]
             for i in kube.custom.list_namespaced_custom_object("netaiops.io", "v1alpha1", ns, "incidents")["items"]
             if i["metadata"]["name"].startswith("old-")}
    assert after == before  # not resumed, not patched: not one write for a finished Incident
    assert picked_up < 30


def test_similar_incident_lookup_reads_a_bounded_page(kube, ns, settings):
    from incident_operator.phases import correlate, gather

    from .support import scenarios

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
