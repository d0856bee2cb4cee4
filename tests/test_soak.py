"""Soak: the operator killed with SIGKILL ten times during a storm of 50 alarms (redeliveries,
out-of-order OKs, ALARMs redelivered after their OK). Afterwards: exactly one Incident per episode,
one GitHub issue each, no comment posted twice, no remediation done twice. Bounded in time."""

from __future__ import annotations

import random
import re
import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone

from kubernetes import client

from bridge_lambda.config import BridgeConfig
from bridge_lambda.handler import RetryableRecords, handle
from bridge_lambda.incidents import IncidentWriter
from incident_operator.scenarios.notifications import cloudwatch_message, notification_record
from incident_operator.scenarios.sim import chaos_scale_to_zero

from local_stack import scenarios, workloads
from local_stack.cluster import wait_for
from local_stack.github_server import TOKEN, GitHubServer

ALARMS = 50
FIXABLE = 8  # the first ones point at Deployments scaled to 0: each must be scaled back exactly once


def _alarm(i: int, ns: str) -> dict:
    name = f"soak-{i:02d}"
    pod = f"web-{i}" if i < FIXABLE else f"ghost-{i}"
    return {"AlarmName": name, "AlarmArn": f"arn:aws:cloudwatch:ap-northeast-2:123456789012:alarm:{name}",
            "MetricName": "pod_number_of_container_restarts", "Namespace": "ContainerInsights", "Statistic": "Average",
            "Dimensions": [{"Name": "ClusterName", "Value": "demo"}, {"Name": "Namespace", "Value": ns},
                           {"Name": "PodName", "Value": pod}],
            "Period": 300, "EvaluationPeriods": 1, "ComparisonOperator": "GreaterThanThreshold", "Threshold": 3}


def _storm(ns: str, rng: random.Random) -> list[dict]:
    t0 = datetime.now(timezone.utc) - timedelta(minutes=5)
    records = []
    for i in range(ALARMS):
        alarm = _alarm(i, ns)
        fire = notification_record(cloudwatch_message(alarm, "OK", "ALARM", "restarts", at=t0 + timedelta(seconds=i)))
        records += [fire, fire]  # SNS delivers at least once
        if i >= FIXABLE and i % 2:  # half of the others recover; some OKs overtake their ALARM
            ok = notification_record(cloudwatch_message(alarm, "ALARM", "OK", "back", at=t0 + timedelta(seconds=i + 60)))
            records += [ok, fire] if i % 4 == 1 else [ok]
    rng.shuffle(records)
    return records


def test_kill_nine_during_a_storm_duplicates_nothing(kube, ns, start_operator):
    rng = random.Random(20261125)
    github = GitHubServer()
    try:
        for i in range(FIXABLE):
            scenarios.apply_deployment(kube, ns, workloads.deployment(f"web-{i}", replicas=1))
        for i in range(FIXABLE):
            scenarios.wait_ready(kube, ns, f"web-{i}", 1)
            chaos_scale_to_zero(kube, ns, f"web-{i}")  # the seed chaos, recorded as such (docs/remediation.md)
        env = {"GITHUB_TOKEN": TOKEN, "GITHUB_REPO": "acme/shop", "GITHUB_API_URL": github.url,
               "INCIDENT_GITHUB_WRITE_INTERVAL_SECONDS": "0", "INCIDENT_INCIDENT_NAMESPACES": ns,
               "INCIDENT_REPORT_RETRY_SECONDS": "1", "INCIDENT_REMEDIATION_VERIFY_INTERVAL_SECONDS": "1",
               "INCIDENT_CLAIM_SECONDS": "3", "INCIDENT_BACKOFF_SECONDS": "0.5", "INCIDENT_MAX_ATTEMPTS": "10"}
        writer = IncidentWriter(client.ApiClient(), BridgeConfig(namespace=ns))
        records = _storm(ns, rng)

        def send() -> None:
            for i in range(0, len(records), 4):
                batch = {"Records": records[i:i + 4]}
                for _ in range(5):
                    try:
                        handle(batch, None, writer)
                        break
                    except RetryableRecords:
                        time.sleep(0.2)  # Lambda retries the batch
                time.sleep(rng.uniform(0, 0.1))
        sender = threading.Thread(target=send)
        sender.start()
        started = time.monotonic()
        for round_ in range(10):
            op = start_operator(env, name=f"round-{round_}")
            time.sleep(rng.uniform(1.0, 3.5))
            op.kill()  # SIGKILL: no cleanup, mid-phase
        sender.join(60)
        start_operator(env, name="final")

        def finished() -> list[dict] | None:
            items = kube.custom.list_namespaced_custom_object("netaiops.io", "v1alpha1", ns, "incidents")["items"]
            done = [i for i in items if (i.get("status") or {}).get("phase") in ("Resolved", "NeedsAction", "Failed")
                    and not (i["status"].get("report") or {}).get("outbox")]
            return items if len(items) == ALARMS and len(done) == ALARMS else None
        items = wait_for(finished, 240, "every Incident finished and reported")
        assert time.monotonic() - started < 300

        # exactly one Incident per episode (each alarm had one ALARM transition)
        assert sorted(i["spec"]["alarm"]["name"] for i in items) == sorted(f"soak-{i:02d}" for i in range(ALARMS))
        assert not [i["metadata"]["name"] for i in items if i["status"]["phase"] == "Failed"]
        # one issue per Incident, no comment twice
        markers = Counter(re.search(r"fingerprint=([^ ]+) -->", i["body"]).group(1) for i in github.issues.values())
        assert len(github.issues) == ALARMS and max(markers.values()) == 1
        for number, comments in github.comments.items():
            keys = Counter(re.search(r"comment=([^ ]+) -->", c["body"]).group(1) for c in comments)
            assert max(keys.values(), default=1) == 1, (number, keys)
        # no remediation twice: one RemediationApplied per fixed Deployment at most, and each is back
        applied = [e for e in kube.core.list_namespaced_event(ns, field_selector="involvedObject.kind=Incident").items
                   if e.reason == "RemediationApplied"]
        per_incident = Counter(e.involved_object.name for e in applied)
        assert per_incident and max(per_incident.values()) == 1
        for i in range(FIXABLE):
            assert kube.apps.read_namespaced_deployment(f"web-{i}", ns).spec.replicas == 1
        recovered = [i for i in items if i["spec"].get("recovery")]
        assert len(recovered) == (ALARMS - FIXABLE) // 2 and all(i["status"]["phase"] == "Resolved" for i in recovered)
    finally:
        github.stop()
