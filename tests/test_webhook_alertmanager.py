"""Alertmanager as a second alarm source: `incident-operator webhook` against the real kube-apiserver,
with Alertmanager's webhook payloads (version "4") as it sends them."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest
import requests

from incident_operator.constants import GROUP, PLURAL, VERSION

from local_stack.aws import free_port
from local_stack.cluster import ROOT, wait_for

from .support.pki import make_pki

TOKEN = "am-webhook-token-0123456789abcdef"
STARTS = "2026-03-02T01:02:03.456Z"
ENDS = "2026-03-02T01:17:33.001Z"


def alert(alertname: str = "KubePodCrashLooping", status: str = "firing", starts: str = STARTS, **labels: str) -> dict:
    """One alert as Alertmanager puts it in the webhook body (kube-prometheus rule labels)."""
    lb = {"alertname": alertname, "container": "app", "endpoint": "http", "instance": "10.0.3.14:8080",
          "job": "kube-state-metrics", "namespace": "shop", "pod": "checkout-7d9f8b6c5d-x2k4q",
          "reason": "CrashLoopBackOff", "service": "kube-state-metrics", "severity": "warning",
          "prometheus": "monitoring/k8s", **labels}
    lb = {k: v for k, v in lb.items() if v != ""}
    return {"status": status, "labels": lb,
            "annotations": {"description": f"Pod {lb.get('namespace')}/{lb.get('pod')} ({lb.get('container')}) is in waiting state (reason: \"CrashLoopBackOff\").",
                            "runbook_url": "https://runbooks.prometheus-operator.dev/runbooks/kubernetes/kubepodcrashlooping",
                            "summary": "Pod is crash looping."},
            "startsAt": starts, "endsAt": ENDS if status == "resolved" else "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus-k8s-0:9090/graph?g0.expr=max_over_time%28kube_pod_container_status_waiting_reason%5B5m%5D%29+%3E%3D+1&g0.tab=1",
            "fingerprint": "ac3b4c6b0e8d7a1f"}


def payload(*alerts: dict, status: str | None = None) -> dict:
    common = {k: v for k, v in alerts[0].get("labels", {}).items() if all(a.get("labels", {}).get(k) == v for a in alerts)}
    return {"receiver": "incident-operator", "status": status or ("firing" if any(a["status"] == "firing" for a in alerts) else "resolved"),
            "alerts": list(alerts), "groupLabels": {"alertname": alerts[0].get("labels", {}).get("alertname")},
            "commonLabels": common, "commonAnnotations": {}, "externalURL": "http://alertmanager-main-0:9093",
            "version": "4", "groupKey": '{}:{alertname="%s"}' % alerts[0].get("labels", {}).get("alertname"), "truncatedAlerts": 0}


class Webhook:
    def __init__(self, url: str, kube, ns: str):
        self.url, self.kube, self.ns = url, kube, ns

    def post(self, body, token: str | None = TOKEN) -> requests.Response:
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        headers = {"Content-Type": "application/json", "User-Agent": "Alertmanager/0.28.1"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return requests.post(self.url, data=data, headers=headers, timeout=30)

    def incidents(self) -> list[dict]:
        return self.kube.custom.list_namespaced_custom_object(GROUP, VERSION, self.ns, PLURAL)["items"]

    def get(self, name: str) -> dict:
        return self.kube.custom.get_namespaced_custom_object(GROUP, VERSION, self.ns, PLURAL, name)


@pytest.fixture
def webhook(kube, ns, kubeconfig, tmp_path: Path) -> Iterator[Webhook]:
    port = free_port()
    log = open(tmp_path / "webhook.log", "ab")
    proc = subprocess.Popen([sys.executable, "-m", "incident_operator.cli", "webhook", "--host", "127.0.0.1", "--port", str(port)],
                            env={**os.environ, "KUBECONFIG": kubeconfig, "INCIDENT_WEBHOOK_TOKEN": TOKEN,
                                 "INCIDENT_INCIDENT_NAMESPACES": f"{ns},scn-*", "PYTHONUNBUFFERED": "1"},
                            stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    url = f"http://127.0.0.1:{port}/"
    def up() -> bool:
        assert proc.poll() is None, (tmp_path / "webhook.log").read_text()
        try:
            return requests.get(url + "healthz", timeout=2).ok
        except requests.ConnectionError:
            return False

    try:
        wait_for(up, 30, "webhook receiver up")
        yield Webhook(url, kube, ns)
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def test_firing_alert_becomes_one_incident_and_redelivery_does_not_make_another(webhook):
    body = payload(alert())
    r = webhook.post(body)
    assert r.status_code == 200, r.text
    [res] = r.json()["results"]
    assert res["status"] == "created" and res["incident"].startswith("kubepodcrashlooping-")
    inc = webhook.get(res["incident"])
    spec = inc["spec"]
    assert spec["source"] == "alarm" and spec["severity"] == "medium"  # severity=warning
    assert spec["target"] == {"namespace": "shop", "pod": "checkout-7d9f8b6c5d-x2k4q"}
    assert spec["alarm"]["name"] == "KubePodCrashLooping" and spec["alarm"]["state"] == "ALARM"
    assert spec["alarm"]["timestamp"] == "2026-03-02T01:02:03.456000Z"
    assert spec["alarm"]["dimensions"]["container"] == "app" and spec["alarm"]["reason"].startswith("Pod is crash looping.")
    raw = json.loads(spec["alarm"]["raw"])
    assert raw["generatorURL"].startswith("http://prometheus-k8s-0:9090/") and raw["externalURL"] == "http://alertmanager-main-0:9093"
    assert inc["metadata"]["labels"]["app.kubernetes.io/created-by"] == "incident-webhook"
    assert inc["metadata"]["labels"]["netaiops.io/alarm"] == "KubePodCrashLooping"
    # Alertmanager sends the group again every repeat_interval (and on its own retries): nothing new
    for _ in range(3):
        again = webhook.post(body)
        assert again.status_code == 200 and again.json()["results"][0] == {**res, "status": "duplicate"}
    assert len(webhook.incidents()) == 1
    assert webhook.get(res["incident"])["metadata"]["annotations"]["netaiops.io/occurrences"] == "1"


def test_resolved_recovers_that_episode_and_a_new_firing_opens_the_next(webhook):
    first = webhook.post(payload(alert())).json()["results"][0]["incident"]
    r = webhook.post(payload(alert(status="resolved")))
    assert r.status_code == 200 and r.json()["results"][0] == {
        "index": 0, "alertname": "KubePodCrashLooping", "fingerprint": r.json()["results"][0]["fingerprint"],
        "status": "recovered", "incident": first}
    recovery = webhook.get(first)["spec"]["recovery"]
    assert recovery["recoveredAt"] == "2026-03-02T01:17:33.001000Z" and recovery["reason"] == (
        "Pod is crash looping. — Pod shop/checkout-7d9f8b6c5d-x2k4q (app) is in waiting state (reason: \"CrashLoopBackOff\").")
    assert webhook.post(payload(alert(status="resolved"))).json()["results"][0]["status"] == "duplicate"
    # the resolved notification redelivered late, or the old firing again: changes nothing
    assert webhook.post(payload(alert())).json()["results"][0]["status"] == "stale"
    # it fires again later: a new episode, a new Incident
    r = webhook.post(payload(alert(starts="2026-03-02T02:00:00Z")))
    second = r.json()["results"][0]
    assert second["status"] == "created" and second["incident"] != first
    assert len(webhook.incidents()) == 2


def test_grouped_notification_one_incident_per_alert_with_targets_from_labels(webhook):
    body = payload(
        alert("KubeDeploymentReplicasMismatch", pod="", deployment="checkout", severity="critical"),
        alert("KubeNodeNotReady", pod="", namespace="", container="", node="ip-10-0-3-14.ap-northeast-2.compute.internal", severity="info"),
        alert("KubePodCrashLooping", pod="Bad_Pod_Name"),
        alert("KubeContainerWaiting", pod="orders-5c6d7-abcde", container="sidecar", severity="page"))
    r = webhook.post(body)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["status"] for x in results] == ["created"] * 4 and len({x["incident"] for x in results}) == 4
    specs = [webhook.get(x["incident"])["spec"] for x in results]
    assert specs[0]["target"] == {"namespace": "shop", "kind": "Deployment", "name": "checkout"} and specs[0]["severity"] == "critical"
    node = "ip-10-0-3-14.ap-northeast-2.compute.internal"
    assert specs[1]["target"] == {"node": node, "kind": "Node", "name": node} and specs[1]["severity"] == "low"
    # a label that cannot be a Kubernetes name is no target; it stays in the dimensions
    assert specs[2]["target"] == {"namespace": "shop"} and specs[2]["alarm"]["dimensions"]["pod"] == "Bad_Pod_Name"
    assert specs[3]["target"]["pod"] == "orders-5c6d7-abcde" and specs[3]["severity"] == "critical"
    assert specs[3]["alarm"]["dimensions"]["container"] == "sidecar"
    assert len(webhook.incidents()) == 4


def test_malformed_bodies_get_400_with_a_reason_and_good_alerts_of_a_batch_are_kept(webhook):
    r = webhook.post(b"{not json")
    assert r.status_code == 400 and r.json()["error"].startswith("body is not JSON")
    wrong = {**payload(alert()), "version": "3"}
    r = webhook.post(wrong)
    assert r.status_code == 400 and "unsupported webhook payload version '3'" in r.json()["error"]
    r = webhook.post({"version": "4", "status": "firing"})
    assert r.status_code == 400 and "alerts: Field required" in r.json()["error"]
    no_labels = alert("KubeletDown")
    del no_labels["labels"]
    no_name = alert("x")
    del no_name["labels"]["alertname"]
    bad_time = {**alert("KubeCPUOvercommit"), "startsAt": "yesterday"}
    good = alert("KubeMemoryOvercommit", pod="", namespace="")
    body = payload(good, no_labels, no_name, bad_time)
    r = webhook.post(body)
    assert r.status_code == 400
    results = r.json()["results"]
    assert [x["status"] for x in results] == ["created", "invalid", "invalid", "invalid"]
    assert "labels: Field required" in results[1]["error"]
    assert "labels.alertname is missing" in results[2]["error"]
    assert results[3]["error"].startswith("alert KubeCPUOvercommit: startsAt")
    [inc] = webhook.incidents()  # the good alert of the batch is not lost
    assert inc["metadata"]["name"] == results[0]["incident"] and inc["spec"]["alarm"]["name"] == "KubeMemoryOvercommit"
    assert webhook.post(payload(alert("KubeletDown", status="resolved") | {"endsAt": "0001-01-01T00:00:00Z"})).status_code == 400


def test_unauthenticated_requests_are_refused(webhook):
    for token in (None, "wrong-token", TOKEN + "x"):
        r = webhook.post(payload(alert()), token=token)
        assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
    assert webhook.incidents() == []
    assert webhook.post(payload(alert())).status_code == 200


def test_receiver_refuses_to_run_without_authentication(kubeconfig):
    out = subprocess.run([sys.executable, "-m", "incident_operator.cli", "webhook", "--port", "0"],
                         env={**{k: v for k, v in os.environ.items() if not k.startswith("INCIDENT_WEBHOOK")},
                              "KUBECONFIG": kubeconfig}, capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 2 and "does not run unauthenticated" in out.stderr


def test_mutual_tls_requires_a_client_certificate(kube, ns, tmp_path):
    import threading

    from kubernetes import client as k8s

    from incident_operator.settings import Settings
    from incident_operator.webhook import Receiver, WebhookServer, make_writer

    f = make_pki(tmp_path)
    s = Settings(webhook_tls_cert=str(f("server.crt")), webhook_tls_key=str(f("server.key")),
                 webhook_tls_client_ca=str(f("ca.crt")), webhook_namespace=ns)
    server = WebhookServer(s, Receiver(make_writer(s, k8s.ApiClient())), "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"https://127.0.0.1:{server.port}/"
    try:
        with pytest.raises(requests.exceptions.SSLError):
            requests.post(url, json=payload(alert()), verify=str(f("ca.crt")), timeout=10)
        r = requests.post(url, json=payload(alert()), verify=str(f("ca.crt")), timeout=10,
                          cert=(str(f("client.crt")), str(f("client.key"))))
        assert r.status_code == 200 and r.json()["results"][0]["status"] == "created"
    finally:
        server.shutdown()
    assert len(Webhook(url, kube, ns).incidents()) == 1


def test_an_alert_is_named_by_its_labels_not_its_text():
    from bridge_lambda.alertmanager import parse_alert, parse_payload
    p = parse_payload(json.dumps(payload(alert())).encode())
    a = parse_alert(p, copy.deepcopy(p.alerts[0]))
    b = parse_alert(p, {**copy.deepcopy(p.alerts[0]), "annotations": {"summary": "changed text"}})
    assert a.fingerprint() == b.fingerprint() and len(a.fingerprint()) == 32  # labels, not annotations, name the alert
    c = parse_alert(p, {**copy.deepcopy(p.alerts[0]), "labels": {**p.alerts[0]["labels"], "pod": "other"}})
    assert c.fingerprint() != a.fingerprint()


def test_alert_to_slack_report_and_resolved_closes_it(webhook, start_operator):
    """End to end: Alertmanager → receiver → Incident → operator → Slack; `resolved` ends the incident."""
    from .support.slack_server import TOKEN as SLACK_TOKEN, SlackServer
    from .test_report_slack import keys

    slack = SlackServer()
    try:
        start_operator({"INCIDENT_INCIDENT_NAMESPACES": webhook.ns, "INCIDENT_SLACK_TOKEN": SLACK_TOKEN,
                        "INCIDENT_SLACK_CHANNEL": "C0INCIDENTS", "INCIDENT_SLACK_API_URL": slack.api,
                        "INCIDENT_REPORT_TIMEOUT_SECONDS": "3"})
        name = webhook.post(payload(alert())).json()["results"][0]["incident"]
        st = wait_for(lambda: (lambda s: s if s.get("phase") == "NeedsAction" else None)(webhook.get(name).get("status") or {}),
                      60, "analysed")
        [parent] = slack.parents()
        assert parent["blocks"][0]["text"]["text"] == "[인시던트] KubePodCrashLooping 알람 발생"
        assert st["report"]["ts"] == parent["ts"] and keys(slack.replies(parent["ts"])) == ["analysis", "resolution"]
        assert webhook.post(payload(alert(status="resolved"))).json()["results"][0]["status"] == "recovered"
        st = wait_for(lambda: (lambda s: s if s.get("phase") == "Resolved" else None)(webhook.get(name)["status"]),
                      60, "resolved by the alert's recovery")
        assert st["outcome"] == "recovered" and st["report"]["closed"] is True
        assert keys(slack.replies(parent["ts"])) == ["analysis", "resolution", "recovered"]
        assert "상태: 종료 — 알람 정상화" in slack.parents()[0]["blocks"][-1]["elements"][0]["text"]
    finally:
        slack.stop()
