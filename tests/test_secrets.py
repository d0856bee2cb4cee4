"""Secrets never leave the operator: planted in every evidence source, found in no output.

A dozen kinds of secret go into the workload (last-applied annotation, other annotations, env
literals, args), the kubelet's waiting message, Events, the application logs in OpenSearch and the
alarm itself. The whole pipeline runs with the LLM agent (which also calls a tool) and the GitHub
report; then every output is searched: the evidence ConfigMap, status (report included), the
GitHub issue and comments, every request the model received, Events and the operator's log.
"""

from __future__ import annotations

import base64
import gzip
import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone

from kubernetes import client

from incident_operator.redact import redact, redact_data

from local_stack import scenarios, workloads
from local_stack.bedrock_server import answer, call_tool
from local_stack.cluster import ROOT
from local_stack.github_server import TOKEN
from local_stack.workloads import incident

# distinctive values: none may appear in any output
S = {
    "db_password": "Hunter2DbPassw0rd",           # literal env in last-applied-configuration
    "slack_webhook": "XyZslackHookSecret42abc",    # an arbitrary annotation
    "aws_secret_env": "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY9",  # env literal value
    "url_password": "UrlPassw0rdInArgs",           # args: scheme://user:password@host
    "api_key_flag": "ApiKeyFlagValue778899",       # args: --api-key=...
    "bearer": "BearerTokenInWaitingMsg5566",       # container waiting message
    "github_token": "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8",  # an Event
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJzZWNyZXQtdXNlciJ9.S1gn4tur3VeryS3cretJwtPart",  # an Event
    "slack_bot": "xoxb-" + "112233445566-778899001122-SlackBotTokenSecret",  # a log line
    "private_key": "MIIEpAIBAAKCAQEAprivateKeyMaterialSecret",  # a log line (PEM block)
    "query_password": "QueryPassw0rdValue",        # a log line: ...?password=...
    "aws_key_id": "AKIA" + "Z7QWERTYUIOPASDF",     # a log line
    "alarm_token": "AlarmReasonTokenValue31",      # the alarm's reason
    "basic_auth": "dXNlcjpCYXNpY0F1dGhTZWNyZXQ=",  # an Event: Authorization: Basic ...
    "aws_flag_arg": "wJalrXUtnFEMIK7MDENGbPxRfiCYzzFLAGARG01",  # args: "--aws-secret-access-key", then the value
    "short_flag_arg": "ShortFlagPassw0rd",         # args: "-p", then the value (mysql style)
}


def test_redactor_masks_every_kind_and_keeps_json_valid():
    planted = json.dumps({"args": [f"--api-key={S['api_key_flag']}", f"postgres://app:{S['url_password']}@db/app"],
                          "DB_PASSWORD": S["db_password"], "log": f"token={S['alarm_token']} {S['github_token']}",
                          "nested": {"auth": f"Authorization: Basic {S['basic_auth']}", "k": S["aws_key_id"],
                                     "pem": f"-----BEGIN RSA PRIVATE KEY-----\n{S['private_key']}\n-----END RSA PRIVATE KEY-----",
                                     "jwt": S["jwt"], "slack": S["slack_bot"],
                                     "hook": f"https://hooks.slack.com/services/T0/B0/{S['slack_webhook']}",
                                     "aws": f"aws_secret_access_key = {S['aws_secret_env']}", "q": f"/login?password={S['query_password']}",
                                     "bearer": f"bearer {S['bearer']}"}})
    out = redact_data(json.loads(planted))
    text = json.dumps(out)
    for kind, value in S.items():
        assert value not in text, kind
    # ordinary text is left alone
    assert redact("replicas=3 --cpu=4 token bucket passwordless login") == "replicas=3 --cpu=4 token bucket passwordless login"


def _plant(kube, ns: str, opensearch, index: str) -> None:
    last_applied = {"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"template": {"spec": {"containers": [
        {"name": "app", "env": [{"name": "DB_PASSWORD", "value": S["db_password"]}]}]}}}}
    body = workloads.deployment("api", image="nginx:1.27", replicas=2, annotations={
        "kubectl.kubernetes.io/last-applied-configuration": json.dumps(last_applied),
        "team.acme.io/alerts": f"https://hooks.slack.com/services/T0/B0/{S['slack_webhook']}"})
    body["spec"]["template"]["spec"]["containers"][0].update(
        env=[{"name": "AWS_SECRET_ACCESS_KEY", "value": S["aws_secret_env"]}, {"name": "LOG_LEVEL", "value": "info"}],
        args=[f"--db-url=postgres://app:{S['url_password']}@db.shop:5432/app", f"--api-key={S['api_key_flag']}",
              "--aws-secret-access-key", S["aws_flag_arg"], "-p", S["short_flag_arg"]])
    scenarios.apply_deployment(kube, ns, body)
    scenarios.wait_ready(kube, ns, "api", 2)
    # a bad rollout whose (simulated) kubelet message carries a credential
    workloads.set_image_with_fault(kube.apps, ns, "api", "registry.acme.io/api:9.9", "image-pull")
    kube.apps.patch_namespaced_deployment("api", ns, {"spec": {"template": {"metadata": {"annotations": {
        "sim.netaiops.io/message": f"Back-off pulling image: registry said 401, sent Authorization: Bearer {S['bearer']}"}}}}})
    scenarios.wait_pod_state(kube, ns, "api", "ImagePullBackOff")
    for msg in (f"git clone failed with token {S['github_token']}", f"webhook rejected id_token {S['jwt']}",
                f"probe used Authorization: Basic {S['basic_auth']}"):
        kube.core.create_namespaced_event(ns, client.CoreV1Event(
            metadata=client.V1ObjectMeta(generate_name="api."), type="Warning", reason="AppWarning", message=msg,
            involved_object=client.V1ObjectReference(kind="Deployment", name="api", namespace=ns)))
    pod = scenarios.pods_of(kube, ns, "api")[0].metadata.name
    now = datetime.now(timezone.utc)
    lines = [f"slack post failed using {S['slack_bot']}",
             f"loaded key -----BEGIN RSA PRIVATE KEY-----\n{S['private_key']}\n-----END RSA PRIVATE KEY-----",
             f"GET /login?user=bob&password={S['query_password']} -> 500", f"s3 upload denied for {S['aws_key_id']}"]
    opensearch.bulk(index, [{"@timestamp": (now - timedelta(seconds=10 * i)).isoformat(), "level": "ERROR",
                             "service": "api", "message": m, "error_type": "UpstreamError", "kubernetes": {"pod_name": pod, "namespace_name": ns}}
                            for i, m in enumerate(lines)])


def _everything_written(kube, ns: str, name: str, github, bedrock, op_log: str) -> dict[str, str]:
    inc = kube.custom.get_namespaced_custom_object("netaiops.io", "v1alpha1", ns, "incidents", name)
    cm = kube.core.read_namespaced_config_map(inc["status"]["evidence"]["configMap"], ns)
    bundle = gzip.decompress(base64.b64decode(cm.binary_data["evidence.json.gz"])).decode()
    events = kube.core.list_namespaced_event(ns, field_selector="involvedObject.kind=Incident").items
    report = subprocess.run([sys.executable, "-m", "incident_operator.cli", "report", name, "-n", ns],
                            capture_output=True, text=True, cwd=ROOT, check=True).stdout
    return {
        "evidence ConfigMap": bundle,
        "status": json.dumps(inc["status"], ensure_ascii=False),
        "report": report,
        "GitHub": json.dumps({"issues": github.issues, "comments": github.comments}, ensure_ascii=False, default=str),
        "prompt and tool results": json.dumps(bedrock.bodies, ensure_ascii=False),
        "Events": json.dumps([e.message for e in events], ensure_ascii=False),
        "operator log": op_log,
    }


def test_planted_secrets_reach_no_output(kube, ns, incidents, start_operator, opensearch, github, bedrock):
    index = f"logs-{ns}"
    _plant(kube, ns, opensearch, index)
    bedrock.play(call_tool("kubernetes-get-evidence", {"namespace": ns, "kind": "Deployment", "name": "api"}),
                 answer({"causes": [{"kind": "image-pull", "title": "이미지 풀 실패", "probability": 0.9,
                                     "evidence": ["ImagePullBackOff"], "resource_kind": "Deployment",
                                     "resource_name": "api", "resource_namespace": ns}],
                         "timeline": [], "immediate_actions": [], "long_term_improvements": [],
                         "remediation": {"action": "none", "reason": ""}}))
    op = start_operator({"GITHUB_TOKEN": TOKEN, "GITHUB_REPO": "acme/shop", "GITHUB_API_URL": github.url,
                         "INCIDENT_GITHUB_WRITE_INTERVAL_SECONDS": "0",
                         "INCIDENT_OPENSEARCH_URL": opensearch.url, "INCIDENT_OPENSEARCH_INDEX": index,
                         "INCIDENT_LLM_ENABLED": "true", "INCIDENT_LLM_ENDPOINT_URL": bedrock.url,
                         "INCIDENT_LLM_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
                         "AWS_SECRET_ACCESS_KEY": "testing", "INCIDENT_REMEDIATION_VERIFY_INTERVAL_SECONDS": "1"})
    alarm = {"name": "netaiops-pod-restarts", "threshold": 3, "metric": {"name": "pod_number_of_container_restarts"},
             "reason": f"Threshold Crossed (debug token={S['alarm_token']})",
             "dimensions": {"ClusterName": "demo", "Namespace": ns, "PodName": "api"}}
    incidents.create(incident("leaky", alarm=alarm))
    st = incidents.wait_phase("leaky", ("Resolved", "NeedsAction", "Failed"), 90)["status"]
    assert st["phase"] == "Resolved", st.get("lastError")
    # the evidence really went through every source and the model, so the check below means something
    sources = {s["source"]: s["outcome"] for s in st["evidence"]["sources"]}
    assert sources["kubernetes"] == "ok" and sources["opensearch"] == "ok" and st["evidence"]["logs"] == 4
    assert st["engine"] == "llm" and len(bedrock.bodies) >= 2 and github.issues
    outputs = _everything_written(kube, ns, "leaky", github, bedrock, op.log())
    assert "ImagePullBackOff" in outputs["evidence ConfigMap"] and "***" in outputs["evidence ConfigMap"]
    assert "DB_PASSWORD" not in outputs["evidence ConfigMap"]  # last-applied is never collected
    assert '"AWS_SECRET_ACCESS_KEY"' in outputs["evidence ConfigMap"]  # the env name is, its value is not
    assert '"--aws-secret-access-key", "***"' in outputs["evidence ConfigMap"]  # a flag, then its masked value
    leaks = [(kind, where) for where, text in outputs.items() for kind, value in S.items() if value in text]
    assert leaks == []
