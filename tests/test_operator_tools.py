"""The operator with its tools configured: the report as a GitHub issue, Container Insights evidence."""

from __future__ import annotations

from local_stack import scenarios, workloads
from local_stack.github_server import TOKEN, GitHubServer
from local_stack.workloads import incident
from .test_tools_cloudwatch import put_series


def github_env(server: GitHubServer) -> dict[str, str]:
    return {"GITHUB_TOKEN": TOKEN, "GITHUB_REPO": "acme/shop", "GITHUB_API_URL": server.url,
            "INCIDENT_GITHUB_WRITE_INTERVAL_SECONDS": "0"}


def test_report_is_one_github_issue_with_comments_closed_after_remediation_across_a_restart(
        kube, ns, incidents, start_operator, github):
    scenarios.bad_rollout(kube, ns)
    first = start_operator({**github_env(github), "INCIDENT_FAILPOINTS": "report.after-open=crash"}, name="first")
    incidents.create(incident("gh", target={"namespace": ns, "kind": "Deployment", "name": "api"}, severity="critical"))
    assert first.wait_exit(60) == 137
    assert len(github.issues) == 1  # opened, then the operator died before recording it
    start_operator(github_env(github), name="second")
    st = incidents.wait_phase("gh", ("Resolved", "Failed"), 60)["status"]
    assert st["phase"] == "Resolved", st.get("lastError")
    assert len(github.issues) == 1
    issue = github.issue_list()[0]
    assert issue["title"] == "[인시던트] gh 수동 등록"
    assert [l["name"] for l in issue["labels"]] == ["incident", "severity:critical", "auto-analysis"]
    assert issue["state"] == "closed"
    bodies = [c["body"] for c in github.comments[1]]
    assert len(bodies) == 2
    assert bodies[0].startswith("# 원인 분석 결과") and "## 대응 가이드" in bodies[0] and "image-pull" in bodies[0]
    assert bodies[1].startswith("# 복구 완료") and "rollback-image" in bodies[1]
    assert st["report"]["ref"] == "acme/shop#1" and st["report"]["url"] == issue["html_url"]
    assert st["report"]["closed"] is True


def test_container_insights_series_reach_the_evidence(kube, ns, incidents, start_operator, aws):
    scenarios.cpu_burner(kube, ns, "burner")
    put_series(aws, "pod_cpu_utilization", {"ClusterName": "demo-op", "Namespace": ns, "PodName": "burner"}, [20, 85, 97, 99, 99])
    start_operator({"INCIDENT_AWS_ENDPOINT_URL": aws.endpoint, "INCIDENT_AWS_REGION": "ap-northeast-2",
                    "INCIDENT_CLUSTER_NAME": "demo-op", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"})
    incidents.create(incident("cw", target={"namespace": ns, "kind": "Deployment", "name": "burner"}))
    st = incidents.wait_phase("cw", "Resolved", 60)["status"]
    sources = {s["source"]: s for s in st["evidence"]["sources"]}
    assert sources["cloudwatch"]["outcome"] == "ok" and st["evidence"]["metrics"] == 1
    assert sources["opensearch"]["outcome"] == "not-configured" and sources["datadog"]["outcome"] == "not-configured"
    assert st["topCause"] == "cpu-burner: burner"
    evidence = [e for e in st["causes"][0]["evidence"] if e["source"] == "cloudwatch"]
    assert evidence and evidence[0]["text"] == "pod_cpu_utilization 최대 99%"


def test_dependency_outage_seen_only_in_logs(kube, ns, incidents, start_operator, opensearch):
    from datetime import datetime, timedelta, timezone

    scenarios.apply_deployment(kube, ns, workloads.deployment("checkout", replicas=2))
    scenarios.wait_ready(kube, ns, "checkout", 2)
    pod = scenarios.pods_of(kube, ns, "checkout")[0].metadata.name
    now = datetime.now(timezone.utc)
    index = f"logs-{ns}"
    opensearch.bulk(index, [{"@timestamp": (now - timedelta(seconds=20 * i)).isoformat(), "level": "ERROR", "service": "checkout",
                             "message": "POST /pay failed: payments.shop.svc:8443 connection refused", "error_type": "ConnectionRefused",
                             "kubernetes": {"pod_name": pod, "namespace_name": ns}} for i in range(12)])
    start_operator({"INCIDENT_OPENSEARCH_URL": opensearch.url, "INCIDENT_OPENSEARCH_INDEX": index})
    incidents.create(incident("logs", target={"namespace": ns, "kind": "Deployment", "name": "checkout"}))
    st = incidents.wait_phase("logs", "NeedsAction", 60)["status"]
    sources = {s["source"]: s for s in st["evidence"]["sources"]}
    assert sources["opensearch"]["outcome"] == "ok" and st["evidence"]["logs"] == 12
    top = st["causes"][0]
    assert top["kind"] == "app-errors" and "의존 서비스" in top["title"] and "ConnectionRefused" in top["title"]
    assert st["outcome"] == "needs-action" and not st.get("actions")
    assert any(a["source"] == "opensearch" and "ConnectionRefused" in a["text"] for a in st["anomalies"])
