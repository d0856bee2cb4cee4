"""The shared, short-lived cache of slow-changing cluster configuration (kube/cache.py)."""

from __future__ import annotations

import pytest

from incident_operator.kube.cache import TtlCache


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_read_serves_others_until_it_is_ttl_old():
    clock, reads = Clock(), []
    cache = TtlCache(10, clock=clock)
    load = lambda: reads.append(1) or len(reads)  # noqa: E731
    assert cache.get("services/shop", load) == 1
    clock.now = 9.9
    assert cache.get("services/shop", load) == 1  # another Incident of the storm: no request
    clock.now = 10.0
    assert cache.get("services/shop", load) == 2  # too old: read again
    assert (cache.hits, cache.misses) == (1, 2)


def test_errors_are_not_kept_and_ttl_zero_always_reads():
    cache = TtlCache(10)
    with pytest.raises(RuntimeError):
        cache.get("k", lambda: (_ for _ in ()).throw(RuntimeError("API down")))
    assert cache.get("k", lambda: "ok") == "ok"  # the failure was not remembered
    off, reads = TtlCache(0), []
    for _ in range(3):
        off.get("k", lambda: reads.append(1))
    assert len(reads) == 3


def test_memory_is_bounded_whatever_the_cluster():
    cache = TtlCache(60, max_entries=3)
    for ns in range(10):
        cache.get(("services", f"ns-{ns}"), lambda: [])
    assert len(cache._items) == 3 and ("services", "ns-9") in cache._items and ("services", "ns-0") not in cache._items


def test_incidents_of_one_namespace_share_configuration_reads_but_not_pods_or_events(kube, ns):
    from kubernetes import client

    from incident_operator.kube.evidence import ClusterCollector
    from incident_operator.models.spec import Target

    from local_stack import scenarios, workloads

    scenarios.apply_deployment(kube, ns, workloads.deployment("web", replicas=1))
    scenarios.wait_ready(kube, ns, "web", 1)
    calls: dict[str, int] = {}

    def spy(api, name):
        real = getattr(api, name)

        def wrapped(*a, **kw):
            calls[name] = calls.get(name, 0) + 1
            return real(*a, **kw)
        setattr(api, name, wrapped)
    for name in ("list_namespaced_service", "list_namespaced_pod", "list_namespaced_event"):
        spy(kube.core, name)
    shared = TtlCache(60)
    target = Target(namespace=ns, kind="Deployment", name="web")
    first = ClusterCollector(kube, cache=shared).collect(target)
    # an Event the operator posted on an Incident there: never part of the cluster's evidence
    kube.core.create_namespaced_event(ns, client.CoreV1Event(
        metadata=client.V1ObjectMeta(generate_name="inc."), reason="Diagnosed", message="원인 진단 완료", type="Normal",
        involved_object=client.V1ObjectReference(api_version="netaiops.io/v1alpha1", kind="Incident", name="web",
                                                 namespace=ns)))
    second = ClusterCollector(kube, cache=shared).collect(target)
    assert calls["list_namespaced_service"] == 1  # shared
    assert calls["list_namespaced_pod"] == 2 and calls["list_namespaced_event"] == 2  # always fresh
    assert [p.name for p in first.pods] == [p.name for p in second.pods]
    assert not [e for e in second.events if e.object_kind == "Incident"]
