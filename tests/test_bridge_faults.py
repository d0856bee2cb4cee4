"""The bridge under the faults a hostile test found: episodes that collide, out-of-order and redelivered
notifications, records the API rejects for good, poison records, oversized notifications."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone

import pytest
from kubernetes import client

from bridge_lambda.alarm import CloudWatchAlarm
from bridge_lambda.config import BridgeConfig
from bridge_lambda.handler import handle
from bridge_lambda.incidents import ANN_OCCURRENCES, LABEL_FINGERPRINT, IncidentWriter
from incident_operator.scenarios.notifications import cloudwatch_message, notification_record

T0 = datetime(2026, 11, 25, 1, 0, tzinfo=timezone.utc)


def alarm_def(name: str = "cpu-high", ns: str = "shop", pod: str = "api", **extra) -> dict:
    return {"AlarmName": name, "AlarmArn": f"arn:aws:cloudwatch:ap-northeast-2:123456789012:alarm:{name}",
            "MetricName": "pod_cpu_utilization", "Namespace": "ContainerInsights", "Statistic": "Average",
            "Dimensions": [{"Name": "ClusterName", "Value": "demo"}, {"Name": "Namespace", "Value": ns},
                           {"Name": "PodName", "Value": pod}],
            "Period": 60, "EvaluationPeriods": 3, "ComparisonOperator": "GreaterThanThreshold", "Threshold": 80, **extra}


def note(state: str, minute: float, alarm: dict | None = None, message_id: str | None = None) -> dict:
    """A notification of a transition to `state` at T0 + minute."""
    old = "OK" if state == "ALARM" else "ALARM"
    return notification_record(cloudwatch_message(alarm or alarm_def(), old, state, f"went {state}",
                                                  at=T0 + timedelta(minutes=minute)), message_id=message_id)


@pytest.fixture
def writer(kube, ns):
    return IncidentWriter(client.ApiClient(), BridgeConfig(namespace=ns))


def incidents(kube, ns) -> list[dict]:
    return kube.custom.list_namespaced_custom_object("netaiops.io", "v1alpha1", ns, "incidents")["items"]


def statuses(out: dict) -> list[str]:
    return [r["status"] for r in out["results"]]


def test_a_deleted_episode_does_not_block_the_next_one(kube, ns, writer):
    """The TTL sweep deletes an old episode; the alarm's next ALARM still opens an Incident."""
    first = handle({"Records": [note("ALARM", 0)]}, None, writer)["results"][0]["incident"]
    handle({"Records": [note("OK", 5)]}, None, writer)
    kube.custom.delete_namespaced_custom_object("netaiops.io", "v1alpha1", ns, "incidents", first)
    out = handle({"Records": [note("ALARM", 10)]}, None, writer)
    assert statuses(out) == ["created"] and out["results"][0]["incident"] != first
    assert len(incidents(kube, ns)) == 1


def test_fingerprints_sharing_a_prefix_get_their_own_incidents(kube, ns, writer):
    seen: dict[str, str] = {}
    for i in range(200000):  # two pods whose fingerprints share the first 5 hex digits
        pod = f"p{i}"
        fp = CloudWatchAlarm.model_validate(json.loads(cloudwatch_message(alarm_def(pod=pod), "OK", "ALARM", "x", at=T0))).fingerprint()
        if fp[:5] in seen:
            a, b = seen[fp[:5]], pod
            break
        seen[fp[:5]] = pod
    out = handle({"Records": [note("ALARM", 0, alarm_def(pod=a)), note("ALARM", 0, alarm_def(pod=b))]}, None, writer)
    assert statuses(out) == ["created", "created"]
    found = incidents(kube, ns)
    assert len(found) == 2 and len({i["metadata"]["labels"][LABEL_FINGERPRINT] for i in found}) == 2
    assert all(len(i["metadata"]["labels"][LABEL_FINGERPRINT]) == 32 for i in found)  # the full fingerprint


def test_redelivery_after_ok_and_a_redelivered_batch_open_no_second_episode(kube, ns, writer):
    alarm, ok = note("ALARM", 0), note("OK", 3)
    assert statuses(handle({"Records": [alarm, ok]}, None, writer)) == ["created", "recovered"]
    assert statuses(handle({"Records": [alarm]}, None, writer)) == ["stale"]
    poison = {"Sns": "x"}
    again = handle({"Records": [alarm, ok, poison]}, None, writer)  # Lambda redelivers the whole batch
    assert statuses(again) == ["stale", "duplicate", "invalid"]
    [inc] = incidents(kube, ns)
    assert inc["spec"]["recovery"]["recoveredAt"].startswith("2026-11-25T01:03")


def test_ok_before_its_alarm_opens_that_episode_recovered_and_folds_nothing_later(kube, ns, writer):
    assert statuses(handle({"Records": [note("OK", 3)]}, None, writer)) == ["no-open-incident"]
    late = handle({"Records": [note("ALARM", 0)]}, None, writer)["results"][0]
    assert late["status"] == "created"
    inc = kube.custom.get_namespaced_custom_object("netaiops.io", "v1alpha1", ns, "incidents", late["incident"])
    assert inc["spec"]["recovery"]["recoveredAt"].startswith("2026-11-25T01:03")  # it is already over
    nxt = handle({"Records": [note("ALARM", 10)]}, None, writer)["results"][0]
    assert nxt["status"] == "created" and nxt["incident"] != late["incident"]  # a new episode, not folded in
    assert "recovery" not in kube.custom.get_namespaced_custom_object("netaiops.io", "v1alpha1", ns, "incidents", nxt["incident"])["spec"]


def test_an_old_notification_is_recognised_at_any_distance(kube, ns, writer):
    first = note("ALARM", 0, message_id="first")
    handle({"Records": [first]}, None, writer)
    for i in range(1, 61):  # sixty newer notifications (ALARM again after INSUFFICIENT_DATA, say)
        handle({"Records": [note("ALARM", i / 10)]}, None, writer)
    [inc] = incidents(kube, ns)
    assert inc["metadata"]["annotations"][ANN_OCCURRENCES] == "61"
    assert statuses(handle({"Records": [first]}, None, writer)) == ["stale"]
    assert incidents(kube, ns)[0]["metadata"]["annotations"][ANN_OCCURRENCES] == "61"


def test_records_the_api_rejects_for_good_are_not_retried_and_say_why(kube, ns, caplog):
    caplog.set_level(logging.INFO, "incident_bridge")
    nowhere = IncidentWriter(client.ApiClient(), BridgeConfig(namespace="no-such-namespace"))
    out = handle({"Records": [note("ALARM", 0)]}, None, nowhere)  # no RetryableRecords: 404 is for good
    [res] = out["results"]
    assert res["status"] == "invalid" and 'namespaces "no-such-namespace" not found' in res["reason"]
    assert "record.invalid" in caplog.text and "cpu-high" in caplog.text and "Audit-Id" not in caplog.text


def test_bad_values_are_bounded_and_nothing_else_in_the_batch_is_lost(kube, ns, writer):
    nan = json.loads(cloudwatch_message(alarm_def("nan-alarm"), "OK", "ALARM", "x", at=T0))
    nan["Trigger"]["Threshold"] = float("nan")
    far = json.loads(cloudwatch_message(alarm_def("far-future"), "OK", "ALARM", "x", at=T0))
    far["StateChangeTime"] = "9999-12-31T23:59:59.000+0000"
    records = [
        notification_record(json.dumps(nan)),  # json.dumps writes NaN, as a careless sender would
        note("ALARM", 0, alarm_def("odd-namespace", ns="Shop_Prod")),
        {"Sns": "x"}, {"Sns": {"MessageId": "m" * 300_000, "Message": note("ALARM", 0)["Sns"]["Message"]}},
        notification_record(json.dumps(far)), None, 42,
        note("ALARM", 0, alarm_def("good")),
    ]
    out = handle({"Records": records}, None, writer)
    assert statuses(out) == ["created", "created", "invalid", "invalid", "invalid", "invalid", "invalid", "created"]
    reasons = [r.get("reason", "") for r in out["results"]]
    assert "MessageId is 300000 characters" in reasons[3] and "out of range" in reasons[4]
    by_alarm = {i["spec"]["alarm"]["name"]: i for i in incidents(kube, ns)}
    assert "threshold" not in by_alarm["nan-alarm"]["spec"]["alarm"]
    odd = by_alarm["odd-namespace"]["spec"]
    assert odd["alarm"]["dimensions"]["Namespace"] == "Shop_Prod" and "namespace" not in odd.get("target", {})


def test_a_large_notification_is_kept_whole(kube, ns, writer):
    big = alarm_def("chatty", AlarmDescription="런북: " + "x" * 150_000)
    rec = note("ALARM", 0, big)
    out = handle({"Records": [rec]}, None, writer)["results"][0]
    inc = kube.custom.get_namespaced_custom_object("netaiops.io", "v1alpha1", ns, "incidents", out["incident"])
    assert "raw" not in inc["spec"]["alarm"] and inc["spec"]["alarm"]["rawConfigMap"]
    assert writer.raw_notification(inc) == rec["Sns"]["Message"]  # byte for byte
    small = handle({"Records": [note("ALARM", 0, alarm_def("quiet"))]}, None, writer)["results"][0]
    inc = kube.custom.get_namespaced_custom_object("netaiops.io", "v1alpha1", ns, "incidents", small["incident"])
    assert json.loads(writer.raw_notification(inc))["AlarmName"] == "quiet"


def test_concurrent_deliveries_of_one_transition_make_one_incident(kube, ns, writer):
    from concurrent.futures import ThreadPoolExecutor

    rec = note("ALARM", 0)
    copies = [json.loads(json.dumps(rec)) for _ in range(12)]
    for i, c in enumerate(copies[6:]):
        c["Sns"]["MessageId"] = f"second-topic-{i}"  # the same transition through another topic
    with ThreadPoolExecutor(12) as pool:
        outs = list(pool.map(lambda r: handle({"Records": [r]}, None, writer)["results"][0]["status"], copies))
    assert outs.count("created") >= 1 and len(incidents(kube, ns)) == 1


def test_failed_invocations_from_the_on_failure_destination_can_be_redriven(kube, ns, writer):
    """The invocation record Lambda sends to an on-failure destination after its retries, as AWS
    documents it; redriven after the outage, it lands once."""
    from bridge_lambda.handler import redrive

    event = {"Records": [note("ALARM", 0, alarm_def("redriven"), message_id="lost-1"), note("ALARM", 0, alarm_def("other"))]}
    handle({"Records": [event["Records"][1]]}, None, writer)  # one of them had landed before the outage
    invocation_record = {
        "version": "1.0", "timestamp": "2026-11-25T01:02:03.456Z",
        "requestContext": {"requestId": "e4b46cbf-b738-4c27-8880-a18cdf61200e",
                           "functionArn": "arn:aws:lambda:ap-northeast-2:123456789012:function:incident-bridge:$LATEST",
                           "condition": "RetriesExhausted", "approximateInvokeCount": 3},
        "requestPayload": event,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorMessage": "1 record(s) to retry: lost-1", "errorType": "RetryableRecords"},
    }
    sqs_body = json.dumps(invocation_record)  # as it sits in an SQS destination
    out = redrive([sqs_body, invocation_record, {"what": "ever"}], writer)["events"]
    assert statuses(out[0]) == ["created", "duplicate"] and statuses(out[1]) == ["duplicate", "duplicate"]
    assert out[2]["status"] == "invalid"
    assert sorted(i["spec"]["alarm"]["name"] for i in incidents(kube, ns)) == ["other", "redriven"]


def test_a_large_notification_survives_a_crash_between_incident_and_configmap(kube, ns, writer):
    """The first delivery dies after creating the Incident, before keeping the notification; the
    redelivery (a duplicate for the state record) still keeps it whole."""
    from bridge_lambda.handler import RetryableRecords

    class DiesBeforeTheConfigMap(IncidentWriter):
        def _keep_raw(self, name, uid, raw):
            raise ConnectionError("Lambda timed out")

    rec = note("ALARM", 0, alarm_def("chatty-crash", AlarmDescription="x" * 120_000))
    with pytest.raises(RetryableRecords):
        handle({"Records": [rec]}, None, DiesBeforeTheConfigMap(client.ApiClient(), BridgeConfig(namespace=ns)))
    out = handle({"Records": [rec]}, None, writer)["results"][0]
    assert out["status"] == "duplicate"
    inc = kube.custom.get_namespaced_custom_object("netaiops.io", "v1alpha1", ns, "incidents", out["incident"])
    assert writer.raw_notification(inc) == rec["Sns"]["Message"]


def test_alarms_delivered_after_their_ok_make_one_episode(kube, ns, writer):
    """ALARM t1, t2, t3 then OK t4, delivered OK first: one Incident, recovered at t4 (issue 23)."""
    out = handle({"Records": [note("OK", 4), note("ALARM", 1), note("ALARM", 2), note("ALARM", 3)]}, None, writer)
    assert statuses(out) == ["no-open-incident", "created", "stale", "stale"]
    [inc] = incidents(kube, ns)
    assert inc["spec"]["recovery"]["recoveredAt"].startswith("2026-11-25T01:04")
    # an ALARM after that OK is a new episode, as before
    assert statuses(handle({"Records": [note("ALARM", 10)]}, None, writer)) == ["created"]
    assert len(incidents(kube, ns)) == 2


def test_malformed_trigger_metrics_are_rejected_not_retried(kube, ns, writer):
    """Four Trigger.Metrics shapes used to raise inside the bridge (so the batch was retried for ever)."""
    shapes = [{"Id": "m1", "MetricStat": "oops"},
              {"Id": "m1", "MetricStat": {"Metric": "oops"}},
              {"Id": "m1", "MetricStat": {"Metric": {"MetricName": "cpu", "Dimensions": {"name": "PodName", "value": "a"}}}},
              {"Id": "m1", "MetricStat": {"Metric": {"MetricName": "cpu", "Dimensions": [{"name": "PodName"}]}}}]
    records = []
    for i, shape in enumerate(shapes):
        msg = json.loads(cloudwatch_message(alarm_def(f"bad-metrics-{i}"), "OK", "ALARM", "x", at=T0))
        msg["Trigger"] = {"Metrics": [shape], "Period": 60, "EvaluationPeriods": 1, "Threshold": 1}
        records.append(notification_record(json.dumps(msg)))
    out = handle({"Records": [*records, note("ALARM", 0, alarm_def("good"))]}, None, writer)  # no RetryableRecords
    assert statuses(out) == ["invalid"] * 4 + ["created"]
    assert all("Metrics[0]" in r["reason"] for r in out["results"][:4]), out["results"]
