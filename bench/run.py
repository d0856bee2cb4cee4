#!/usr/bin/env python3
"""`make bench`: latency, alarm storm, API cost and prompt size on the local stack; prints one JSON object.

Figures, not pass/fail: docs/benchmarks.md records them with the date and the machine.
"""

from __future__ import annotations

import json
import os
import platform
import re
import statistics
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "operator")]

from kubernetes import client, config  # noqa: E402

from bridge_lambda.config import BridgeConfig  # noqa: E402
from bridge_lambda.handler import handle  # noqa: E402
from bridge_lambda.incidents import IncidentWriter  # noqa: E402
from incident_operator.scenarios.notifications import cloudwatch_message, notification_record  # noqa: E402
from local_stack.aws import LocalAws  # noqa: E402
from local_stack.cluster import ensure_cluster, install_crds, wait_for  # noqa: E402
from local_stack.github_server import TOKEN, GitHubServer  # noqa: E402
from local_stack.stack import operator, stack_env  # noqa: E402
from local_stack.workloads import deployment  # noqa: E402

LATENCY_INCIDENTS = int(os.environ.get("BENCH_INCIDENTS", 30))
# finished Incidents (and GitHub issues) pre-loaded before the second latency run and the storm
HISTORY = int(os.environ.get("BENCH_HISTORY", 1000))
HISTORY_PADDING = 15_000  # bytes of report text per finished Incident (~17 KB objects, a busy week's size)
STORM_NOTIFICATIONS, STORM_ALARMS = int(os.environ.get("BENCH_STORM", 2000)), int(os.environ.get("BENCH_STORM_ALARMS", 100))


def record(alarm: str, ns: str, pod: str = "web", state: str = "ALARM") -> dict:
    a = {"AlarmName": alarm, "AlarmArn": f"arn:aws:cloudwatch:ap-northeast-2:123456789012:alarm:{alarm}",
         "MetricName": "pod_cpu_utilization", "Namespace": "ContainerInsights", "Statistic": "Average",
         "Dimensions": [{"Name": "ClusterName", "Value": "local"}, {"Name": "Namespace", "Value": ns},
                        {"Name": "PodName", "Value": pod}],
         "Period": 60, "EvaluationPeriods": 3, "ComparisonOperator": "GreaterThanThreshold", "Threshold": 80}
    return notification_record(cloudwatch_message(a, "OK", state, "bench"))


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return round(values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))], 3)


def ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def apiserver_requests(api: client.ApiClient) -> dict[str, float]:
    resp = api.call_api("/metrics", "GET", auth_settings=["BearerToken"], _preload_content=False)
    text = (resp[0] if isinstance(resp, tuple) else resp).data.decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("apiserver_request_total{"):
            labels = dict(re.findall(r'(\w+)="([^"]*)"', line))
            key = f"{labels.get('verb')} {labels.get('resource')}{'/' + labels['subresource'] if labels.get('subresource') else ''}"
            out[key] = out.get(key, 0) + float(line.rsplit(" ", 1)[1])
    return out


class RssPeak(threading.Thread):
    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop = pid, 0, threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.2):
            try:
                for line in open(f"/proc/{self.pid}/status"):
                    if line.startswith("VmRSS:"):
                        self.peak = max(self.peak, int(line.split()[1]))
            except OSError:
                return


def namespace(core: client.CoreV1Api, prefix: str) -> str:
    ns = f"{prefix}-{uuid.uuid4().hex[:5]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns, labels={"netaiops.io/bench": "1"})))
    wait_for(lambda: core.list_namespaced_service_account(ns).items, 30, "service account")
    return ns


def finished(custom: client.CustomObjectsApi, ns: str) -> list[dict]:
    items = custom.list_namespaced_custom_object("netaiops.io", "v1alpha1", ns, "incidents")["items"]
    return [i for i in items if (i.get("status") or {}).get("phase") in ("Resolved", "NeedsAction", "Failed", "Grouped")]


def preload_history(custom, github: GitHubServer, n: int) -> dict:
    """`n` finished Incidents (about 17 KB each) spread over 20 namespaces, labelled like the operator labels
    them, and as many closed issues in the GitHub stand-in: a busy week under the 7-day TTL."""
    if n <= 0:
        return {"incidents": 0}
    core = client.CoreV1Api(custom.api_client)
    spaces = [namespace(core, "bench-hist") for _ in range(20)]
    text = "기록된 분석 " * (HISTORY_PADDING // 16)
    t0 = time.time()

    def one(i: int) -> None:
        ns = spaces[i % len(spaces)]
        name = f"old-{i:05d}"
        body = {"apiVersion": "netaiops.io/v1alpha1", "kind": "Incident",
                "metadata": {"name": name, "labels": {"netaiops.io/alarm": f"bench-latency-{i % 30}",
                                                       "netaiops.io/workload": f"Deployment.{ns}.web-{i % 30}",
                                                       "netaiops.io/cause": "app-errors",
                                                       "netaiops.io/archived": "true"}},  # as the operator leaves them
                "spec": {"source": "manual", "severity": "high", "target": {"namespace": ns, "kind": "Deployment", "name": f"web-{i % 30}"}}}
        custom.create_namespaced_custom_object("netaiops.io", "v1alpha1", ns, "incidents", body)
        custom.patch_namespaced_custom_object_status("netaiops.io", "v1alpha1", ns, "incidents", name, {"status": {
            "phase": "NeedsAction", "outcome": "needs-action", "finishedAt": datetime.now().astimezone().isoformat(),
            "topCause": "app-errors: web", "summary": "과거 인시던트", "report": {"sink": "github", "markdown": text}}})
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(one, range(n)))
    with github.lock:
        for i in range(n):
            k = len(github.issues) + 1
            github.issues[k] = {"id": next(github.ids), "node_id": f"I_{k}", "number": k, "title": f"[인시던트] old-{i} 알람 발생",
                                "body": "", "state": "closed", "state_reason": "completed", "locked": False, "assignees": [],
                                "label_names": ["incident", "auto-analysis"], "user": {"login": "incident-bot", "id": 3, "type": "Bot"},
                                "created_at": "2026-11-20T00:00:00Z", "updated_at": "2026-11-20T00:00:00Z", "closed_at": None,
                                "url": f"{github.api}/issues/{k}", "html_url": f"https://github.example/{github.repo}/issues/{k}",
                                "comments_url": f"{github.api}/issues/{k}/comments", "repository_url": github.api}
    return {"incidents": n, "issues": n, "namespaces": len(spaces), "loadSeconds": round(time.time() - t0, 1)}


def start_up(custom, core) -> float:
    """Seconds from the operator's spawn until a new Incident's first phase starts."""
    ns = namespace(core, "bench-start")
    spawned = time.time()
    custom.create_namespaced_custom_object("netaiops.io", "v1alpha1", ns, "incidents", {
        "apiVersion": "netaiops.io/v1alpha1", "kind": "Incident", "metadata": {"name": "first"},
        "spec": {"source": "manual", "severity": "high", "target": {"namespace": ns}}})
    inc = wait_for(lambda: (lambda x: x if ((x.get("status") or {}).get("phases") or {}).get("Gathering") else None)(
        custom.get_namespaced_custom_object("netaiops.io", "v1alpha1", ns, "incidents", "first")), 300, "first picked up", interval=0.05)
    return round(ts(inc["status"]["phases"]["Gathering"]["startedAt"]) - spawned, 2)


def counted_client(api: client.ApiClient) -> tuple[client.ApiClient, list[int]]:
    """A client for the bridge whose requests are counted (apart from the operator's)."""
    counted_api, calls = client.ApiClient(api.configuration), [0]
    real_call = counted_api.call_api

    def counted(*args, **kw):
        calls[0] += 1
        return real_call(*args, **kw)
    counted_api.call_api = counted
    return counted_api, calls


def latency(api, core, apps, custom, github: GitHubServer | None = None) -> dict:
    ns = namespace(core, "bench-lat")
    # one Deployment per alarm: alarms on one workload within INCIDENT_GROUP_WINDOW_SECONDS would be one
    # (grouped) Incident, and each of these is meant to be analysed in full
    for i in range(LATENCY_INCIDENTS):
        apps.create_namespaced_deployment(ns, deployment(f"web-{i}", replicas=2))
    wait_for(lambda: all((d.status.ready_replicas or 0) == 2 for d in apps.list_namespaced_deployment(ns).items), 120, "web ready")
    # the bridge's own requests (its alarm state record and the Incident) counted apart from the operator's
    bridge_api, bridge_calls = counted_client(api)
    writer = IncidentWriter(bridge_api, BridgeConfig(namespace=ns))
    created, reported, resolved = [], [], []
    polls = [0]

    def get(name: str) -> dict:
        polls[0] += 1
        return custom.get_namespaced_custom_object("netaiops.io", "v1alpha1", ns, "incidents", name)
    before = apiserver_requests(api)
    gh_before = len(github.requests) if github else 0
    for i in range(LATENCY_INCIDENTS):
        t0 = time.time()
        name = handle({"Records": [record(f"bench-latency-{i}", ns, pod=f"web-{i}")]}, None, writer)["results"][0]["incident"]
        created.append(time.time() - t0)
        inc = wait_for(lambda: (lambda x: x if (x.get("status") or {}).get("phase") in ("Resolved", "NeedsAction", "Failed") else None)(
            get(name)), 60, name, interval=0.02)
        st = inc["status"]
        reported.append(ts(st["phases"]["Reporting"]["finishedAt"]) - t0)
        resolved.append(ts(st["finishedAt"]) - t0)
    after = apiserver_requests(api)
    # the Deployments' pods are done with (the Incidents stay): kwok's nodes have room for the next runs
    apps.delete_collection_namespaced_deployment(ns)
    diff = {k: after[k] - before.get(k, 0) for k in after if after[k] - before.get(k, 0) > 0}
    diff["GET incidents"] = diff.get("GET incidents", 0) - polls[0]  # the benchmark's own polling
    per = lambda keys: round(sum(v for k, v in diff.items() if any(k.endswith(x) or k.split(" ", 1)[1] == x for x in keys)) / LATENCY_INCIDENTS, 1)  # noqa: E731
    return {
        "incidents": LATENCY_INCIDENTS,
        "alarmToIncidentCreated": {"p50": pct(created, 50), "p95": pct(created, 95)},
        "alarmToReportOpened": {"p50": pct(reported, 50), "p95": pct(reported, 95)},
        "alarmToResolved": {"p50": pct(resolved, 50), "p95": pct(resolved, 95)},
        "apiRequestsPerIncident": round(sum(diff.values()) / LATENCY_INCIDENTS, 1),
        "bridgeRequestsPerIncident": round(bridge_calls[0] / LATENCY_INCIDENTS, 1),
        # everything else the API server served meanwhile: the operator, plus a little of the controllers and kwok
        "operatorRequestsPerIncident": round((sum(diff.values()) - bridge_calls[0]) / LATENCY_INCIDENTS, 1),
        "githubRequestsPerIncident": round((len(github.requests) - gh_before) / LATENCY_INCIDENTS, 1) if github else None,
        "statusPatchesPerIncident": per(["incidents/status"]),
        "apiRequestsByKind": {k: round(v / LATENCY_INCIDENTS, 2) for k, v in sorted(diff.items(), key=lambda kv: -kv[1])[:25]},
        "namespace": ns,
    }


def storm(api, core, custom, rss: RssPeak) -> dict:
    ns = namespace(core, "bench-storm")
    bridge_api, bridge_calls = counted_client(api)
    writer = IncidentWriter(bridge_api, BridgeConfig(namespace=ns))
    before = apiserver_requests(api)
    records = [record(f"bench-storm-{i % STORM_ALARMS:03d}", ns, pod=f"svc-{i % STORM_ALARMS}") for i in range(STORM_NOTIFICATIONS)]
    batches = [records[i:i + 10] for i in range(0, len(records), 10)]
    t0 = time.time()
    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = [r["status"] for out in pool.map(lambda b: handle({"Records": b}, None, writer), batches) for r in out["results"]]
    sent = time.time() - t0
    items = custom.list_namespaced_custom_object("netaiops.io", "v1alpha1", ns, "incidents")["items"]
    # a critical Incident behind the whole queue: served by severity, it must not wait for the storm
    urgent_ns = namespace(core, "bench-urgent")
    t_urgent = time.time()
    custom.create_namespaced_custom_object("netaiops.io", "v1alpha1", urgent_ns, "incidents", {
        "apiVersion": "netaiops.io/v1alpha1", "kind": "Incident", "metadata": {"name": "urgent"},
        "spec": {"source": "manual", "severity": "critical", "target": {"namespace": urgent_ns}}})
    polls = [0]

    def urgent_now() -> dict:
        polls[0] += 1
        return custom.get_namespaced_custom_object("netaiops.io", "v1alpha1", urgent_ns, "incidents", "urgent")
    urgent = wait_for(lambda: (lambda x: x if (x.get("status") or {}).get("finishedAt") else None)(urgent_now()),
                      600, "urgent", interval=0.2)
    urgent_seconds = round(ts(urgent["status"]["finishedAt"]) - t_urgent, 2)
    queued_then = len(items) - len(finished(custom, ns))
    def all_finished() -> bool:
        polls[0] += 1
        return len(finished(custom, ns)) >= len(items)
    wait_for(all_finished, 3600, "storm resolved", interval=1.0)
    done = time.time() - t0
    after = apiserver_requests(api)
    served = sum(after[k] - before.get(k, 0) for k in after) - polls[0] - 3  # less the benchmark's own reads
    occurrences = sorted(int(i["metadata"]["annotations"]["netaiops.io/occurrences"]) for i in items) or [0]
    return {"notifications": STORM_NOTIFICATIONS, "alarms": STORM_ALARMS, "incidentsCreated": len(items),
            "created": statuses.count("created"), "bumped": statuses.count("bumped"),
            "occurrencesMinMax": [occurrences[0], occurrences[-1]], "handlerSeconds": round(sent, 2),
            "allResolvedSeconds": round(done, 2), "operatorPeakRssMB": round(rss.peak / 1024, 1),
            "criticalMidStormSeconds": urgent_seconds, "queuedWhenCriticalFinished": queued_then,
            "bridgeRequestsPerIncident": round(bridge_calls[0] / len(items), 1),
            # the rest the API server served meanwhile (the operator, a little of the controllers and kwok),
            # less the benchmark's own reads; the urgent Incident's requests are in it (1 of the Incidents)
            "operatorRequestsPerIncident": round((served - bridge_calls[0]) / len(items), 1), "namespace": ns}


TENANT_STORM = int(os.environ.get("BENCH_TENANT_STORM", 500))


def tenant_storm(core, custom) -> dict:
    """Issue 23, finding 7: one tenant writes TENANT_STORM "critical" Incidents, then another tenant one critical
    Incident. Tenants' severities are capped and namespaces take turns: B's must not wait for A's storm."""
    a, b = namespace(core, "tenant-a"), namespace(core, "tenant-b")  # not bench-*: tenants, not incident namespaces
    body = lambda name, ns: {"apiVersion": "netaiops.io/v1alpha1", "kind": "Incident", "metadata": {"name": name},  # noqa: E731
                             "spec": {"source": "manual", "severity": "critical", "target": {"namespace": ns}}}
    t0 = time.time()
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda i: custom.create_namespaced_custom_object("netaiops.io", "v1alpha1", a, "incidents",
                                                                       body(f"storm-{i:04d}", a)), range(TENANT_STORM)))
    t_b = time.time()
    custom.create_namespaced_custom_object("netaiops.io", "v1alpha1", b, "incidents", body("urgent", b))
    urgent = wait_for(lambda: (lambda x: x if (x.get("status") or {}).get("finishedAt") else None)(
        custom.get_namespaced_custom_object("netaiops.io", "v1alpha1", b, "incidents", "urgent")), 900, "tenant B", interval=0.2)
    started_b = ts(urgent["status"]["phases"]["Gathering"]["startedAt"])
    wait_for(lambda: len(finished(custom, a)) >= TENANT_STORM, 3600, "tenant storm finished", interval=1.0)
    starts = [ts(((i.get("status") or {}).get("phases") or {}).get("Gathering", {}).get("startedAt") or "9999-01-01T00:00:00Z")
              for i in custom.list_namespaced_custom_object("netaiops.io", "v1alpha1", a, "incidents")["items"]]
    return {"stormIncidents": TENANT_STORM, "createSeconds": round(t_b - t0, 2),
            "otherTenantCriticalSeconds": round(ts(urgent["status"]["finishedAt"]) - t_b, 2),
            "stormStartedAfterOtherCreated": sum(1 for s in starts if t_b <= s < started_b),  # taken between its creation and its start
            "allResolvedSeconds": round(time.time() - t0, 2)}


GROUPED_PODS = int(os.environ.get("BENCH_GROUPED_PODS", 100))


def grouped_storm(api, core, apps, custom, github: GitHubServer) -> dict:
    """A restart alarm on each of the 100 pods of one Deployment: one event, so one Incident analysed and one
    issue opened; the others end Grouped under it (issue 16)."""
    ns = namespace(core, "bench-group")
    apps.create_namespaced_deployment(ns, deployment("api", replicas=GROUPED_PODS))
    wait_for(lambda: (apps.read_namespaced_deployment("api", ns).status.ready_replicas or 0) >= GROUPED_PODS, 300, "api ready")
    pods = [p.metadata.name for p in core.list_namespaced_pod(ns, label_selector="app=api").items]
    writer = IncidentWriter(api, BridgeConfig(namespace=ns))
    issues_before, t0 = len(github.issues), time.time()
    records = [record(f"pod-restarts-{i:03d}", ns, pod=pod) for i, pod in enumerate(pods)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda b: handle({"Records": b}, None, writer), [records[i:i + 10] for i in range(0, len(records), 10)]))
    wait_for(lambda: len(finished(custom, ns)) >= len(pods), 600, "grouped storm finished", interval=1.0)
    phases = [i["status"]["phase"] for i in custom.list_namespaced_custom_object("netaiops.io", "v1alpha1", ns, "incidents")["items"]]
    return {"pods": len(pods), "alarms": len(records), "incidents": len(phases), "grouped": phases.count("Grouped"),
            "analysed": len(phases) - phases.count("Grouped"), "issuesOpened": len(github.issues) - issues_before,
            "allFinishedSeconds": round(time.time() - t0, 1), "namespace": ns}


def tokens(api) -> dict:
    """Prompt size with the scripted model, this design (one agent run) against the seed's (a model round-trip per step)."""
    from incident_operator.agent.engine import LlmDiagnoser
    from incident_operator.analyzers import analyze
    from incident_operator.evidence_store import load
    from incident_operator.kube.client import Kube
    from incident_operator.settings import Settings
    from incident_operator.tools import ToolDeps
    from local_stack.bedrock_server import BedrockServer, answer

    kube = Kube.connect(api)
    custom = client.CustomObjectsApi(api)
    # Incidents analysed in full (a Grouped one has no evidence of its own)
    incs = [i for i in custom.list_cluster_custom_object("netaiops.io", "v1alpha1", "incidents", limit=200,
                                                         label_selector="app.kubernetes.io/created-by=incident-bridge")["items"]
            if (i.get("status") or {}).get("phase") != "Grouped" and (i.get("status") or {}).get("evidence")][:5]
    server = BedrockServer()
    ours, seed = [], []
    try:
        deps = ToolDeps(Settings(llm_enabled=True, llm_endpoint_url=server.url, llm_region="us-east-1"), kube)
        for inc in incs:
            bundle = load(kube, inc["metadata"]["namespace"], inc["metadata"]["name"])
            rules = analyze(bundle)
            ok = {"causes": [{"kind": "unknown", "title": "원인 미확인", "probability": 0.3, "evidence": ["bench"]}],
                  "remediation": {"action": "none"}}
            server.play(answer(ok))
            out = LlmDiagnoser(deps, deps.registry).diagnose(bundle, rules, [])
            ours.append(out.input_tokens)
            start = server.input_tokens
            for _ in range(6):  # the seed: the whole context sent once per step
                server.play(answer(ok))
                LlmDiagnoser(deps, deps.registry).diagnose(bundle, rules, [])
            seed.append(server.input_tokens - start)
    finally:
        server.stop()
    return {"incidents": len(ours), "inputTokensPerIncident": round(statistics.fmean(ours)) if ours else None,
            "seedDesignInputTokensPerIncident": round(statistics.fmean(seed)) if seed else None,
            "note": "scripted model; seed design = one LLM round-trip per step (6), measured the same way"}


def redactor() -> dict:
    """The redactor on crafted text (tests/support/adversarial.py): CPU µs per KB at 8 and 64 KB, worst shape."""
    from incident_operator.redact import redact
    from tests.support.adversarial import SHAPES

    def us_per_kb(text: str) -> float:
        best = float("inf")
        for _ in range(3):
            start = time.thread_time()
            redact(text)
            best = min(best, time.thread_time() - start)
        return best * 1e6 / (len(text) / 1024)

    per = {name: (us_per_kb(make(8 * 1024)), us_per_kb(make(64 * 1024))) for name, make in SHAPES.items()}
    worst = max(per, key=lambda n: per[n][1])
    return {"shapes": len(per), "worstShape": worst, "usPerKB8KB": round(per[worst][0]), "usPerKB64KB": round(per[worst][1]),
            "medianUsPerKB64KB": round(statistics.median(v[1] for v in per.values())),
            "note": "adversarial input, CPU time; linear cost keeps µs per KB flat from 8 to 64 KB"}


DEPENDENCY_COUNTS = (0, 3, 10)


def dependency_reads(api, core, apps) -> dict:
    """Kubernetes API requests one Incident's evidence collection makes, for a target whose configuration names 0, 3
    and 10 dependency Services (env URLs): the whole collect phase's cluster reads, counted on the client, and what the
    dependency reads add to it. Bounded: at most MAX_DEPENDENCIES Services are read (2 requests each: EndpointSlices,
    matching pods) plus the namespace's Deployments and StatefulSets once, and at most 5 ConfigMaps."""
    from incident_operator.kube.client import Kube
    from incident_operator.kube.dependencies import MAX_DEPENDENCIES
    from incident_operator.kube.evidence import ClusterCollector
    from incident_operator.models.spec import Target

    ns = namespace(core, "bench-deps")
    for n in DEPENDENCY_COUNTS:
        for i in range(n):
            core.create_namespaced_service(ns, {"metadata": {"name": f"dep{n}-{i}"}, "spec": {
                "selector": {"app": f"dep{n}-{i}"}, "ports": [{"port": 8080}]}})
        d = deployment(f"client-{n}", replicas=1)
        d["spec"]["template"]["spec"]["containers"][0]["env"] = [
            {"name": f"DEP_{i}_URL", "value": f"http://dep{n}-{i}:8080"} for i in range(n)]
        apps.create_namespaced_deployment(ns, d)
    wait_for(lambda: all((d.status.ready_replicas or 0) == 1 for d in apps.list_namespaced_deployment(ns).items), 60, "clients ready")
    out: dict = {}
    for n in DEPENDENCY_COUNTS:
        counted_api, calls = counted_client(api)
        evidence = ClusterCollector(Kube.connect(counted_api)).collect(Target(namespace=ns, kind="Deployment", name=f"client-{n}"))
        out[str(n)] = {"requests": calls[0], "dependenciesRead": len(evidence.dependencies)}
    base = out[str(DEPENDENCY_COUNTS[0])]["requests"]
    for v in out.values():
        v["addedByDependencies"] = v["requests"] - base
    return {"byNamedServices": out, "maxDependencies": MAX_DEPENDENCIES,
            "bound": f"2 + 2 × min(N, {MAX_DEPENDENCIES}) + ConfigMaps (≤ 5): at most {2 + 2 * MAX_DEPENDENCIES + 5} requests",
            "namespace": ns}


def main() -> int:
    kubeconfig, _ = ensure_cluster()
    os.environ["KUBECONFIG"] = kubeconfig
    config.load_kube_config(config_file=kubeconfig)
    api = client.ApiClient()
    install_crds(api)
    core, apps, custom = client.CoreV1Api(api), client.AppsV1Api(api), client.CustomObjectsApi(api)
    aws, github = LocalAws(), GitHubServer()
    env = stack_env(kubeconfig, aws.endpoint, "", "x") | {
        "INCIDENT_OPENSEARCH_URL": "", "GITHUB_TOKEN": TOKEN, "GITHUB_REPO": "acme/shop", "GITHUB_API_URL": github.url,
        "INCIDENT_GITHUB_WRITE_INTERVAL_SECONDS": "0"} | (
        {"INCIDENT_WORKERS": os.environ["BENCH_WORKERS"]} if os.environ.get("BENCH_WORKERS") else {})
    result: dict = {"date": datetime.now().astimezone().isoformat(timespec="seconds"),
                    "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
                    "engine": "rules"}
    result["redactor"] = redactor()
    result["dependencyReads"] = dependency_reads(api, core, apps)
    if sys.argv[1:] == ["dependencies"]:  # `bench/run.py dependencies`: this figure alone, in seconds
        for ns in core.list_namespace(label_selector="netaiops.io/bench").items:
            core.delete_namespace(ns.metadata.name)
        print(json.dumps(result, ensure_ascii=False, indent=2))
        return 0
    logs = Path(tempfile.mkdtemp())
    try:
        with operator(env, logs / "operator.log") as proc:
            time.sleep(2)
            result["latency"] = latency(api, core, apps, custom, github)
        result["githubIssuesOpened"] = len(github.issues)
        result["history"] = preload_history(custom, github, HISTORY)
        with operator(env, logs / "operator-history.log") as proc:
            rss = RssPeak(proc.pid)
            rss.start()
            result["startUpSeconds"] = start_up(custom, core)
            result["startUpPeakRssMB"] = round(rss.peak / 1024, 1)
            result["latencyWithHistory"] = latency(api, core, apps, custom, github)
            result["latencyRatio"] = round(result["latencyWithHistory"]["alarmToResolved"]["p50"]
                                           / max(result["latency"]["alarmToResolved"]["p50"], 1e-3), 2)
            if STORM_NOTIFICATIONS:  # BENCH_STORM=0: latency against history only
                result["storm"] = storm(api, core, custom, rss)
            if TENANT_STORM:
                try:
                    result["tenantStorm"] = tenant_storm(core, custom)
                except Exception as exc:  # noqa: BLE001 - the figures above stand on their own
                    result["tenantStorm"] = {"error": f"{type(exc).__name__}: {exc}"}
            if GROUPED_PODS:
                try:
                    result["groupedStorm"] = grouped_storm(api, core, apps, custom, github)
                except Exception as exc:  # noqa: BLE001 - the figures above stand on their own
                    result["groupedStorm"] = {"error": f"{type(exc).__name__}: {exc}"}
            rss.stop.set()
        try:
            result["tokens"] = tokens(api)
        except Exception as exc:  # noqa: BLE001 - the figures above stand on their own
            result["tokens"] = {"error": f"{type(exc).__name__}: {exc}"}
    finally:
        github.stop()
        aws.stop()
        for ns in core.list_namespace(label_selector="netaiops.io/bench").items:
            core.delete_namespace(ns.metadata.name)
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
