"""A real local AWS endpoint (moto in server mode), and CloudWatch's alarm notification delivered
through it the way CloudWatch does.

moto keeps alarms, metrics, topics and queues like AWS does, but does not run alarm actions. So the
tests do what CloudWatch would: take the alarm as the endpoint stores it, render CloudWatch's
documented notification JSON, publish it to the alarm's action topic, and read back the SNS
envelope SNS delivered (to an SQS subscriber) — then wrap it in the Lambda SNS event record.
"""

from __future__ import annotations

import json
import os
import re
import socket
import uuid
from datetime import datetime, timezone
from typing import Any

from incident_operator.scenarios.notifications import REGION_NAME, cloudwatch_message, lambda_record

__all__ = ["LocalAws", "AlarmPipe", "MetricsInsightsStandIn", "cloudwatch_message", "lambda_record", "free_port"]

REGION = "ap-northeast-2"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalAws:
    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                     "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION}.items():
            os.environ[k] = v
        import logging
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request access log
        self.port = free_port()
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()
        self.insights = MetricsInsightsStandIn()
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def client(self, service: str):
        import boto3
        return boto3.client(service, region_name=REGION, endpoint_url=self.endpoint)

    def stop(self) -> None:
        self.server.stop()

    @staticmethod
    def forget_metrics(cluster: str) -> int:
        """Drop every datapoint published with ClusterName `cluster` (a finished run's agent): moto keeps all of them
        in one backend per process (every LocalAws of the process shares it) and scans them all on each read, so a
        long session's agents made later GetMetricData calls slow (81,000 points: 3.7 s for ten queries, idle).
        How many were dropped."""
        from moto.cloudwatch.models import cloudwatch_backends

        def ours(datum) -> bool:
            return any(d.name == "ClusterName" and d.value == cluster for d in datum.dimensions)
        dropped = 0
        for regions in cloudwatch_backends.values():
            for backend in regions.values():
                kept = [d for d in backend.metric_data if not ours(d)]
                dropped += len(backend.metric_data) - len(kept)
                backend.metric_data = kept
        return dropped


class AlarmPipe:
    """Topic → SQS subscriber, so what SNS really delivered can be handed to the Lambda handler."""

    def __init__(self, aws: LocalAws, topic_arn: str):
        self.sns, self.sqs, self.cw = aws.client("sns"), aws.client("sqs"), aws.client("cloudwatch")
        self.insights = aws.insights
        self.topic_arn = topic_arn
        self.queue = self.sqs.create_queue(QueueName=f"bridge-{uuid.uuid4().hex[:8]}")["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.subscription = self.sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn)["SubscriptionArn"]
        self.series: dict[str, dict[str, dict[str, Any]]] = {}  # alarm -> contributor id -> its state

    @staticmethod
    def multi_series(alarm: dict[str, Any]) -> bool:
        """A Metrics Insights alarm with GROUP BY: one time series (contributor) per group."""
        return any(re.search(r"\bGROUP\s+BY\b", str(m.get("Expression", "")), re.I) for m in alarm.get("Metrics") or [])

    def _publish(self, alarm: dict[str, Any], old: str, new: str, reason: str, at: datetime,
                 contributor: dict[str, Any] | None = None) -> int:
        actions = {"ALARM": alarm["AlarmActions"], "OK": alarm["OKActions"],
                   "INSUFFICIENT_DATA": alarm.get("InsufficientDataActions", [])}[new]
        for topic in actions:
            self.sns.publish(TopicArn=topic, Subject=f'{new}: "{alarm["AlarmName"]}" in {REGION_NAME}',
                             Message=cloudwatch_message(alarm, old, new, reason, at=at, contributor=contributor))
        return len(actions)

    def fire(self, alarm_name: str, new_state: str, reason: str = "Threshold Crossed",
             contributor: dict[str, Any] | None = None) -> int:
        """Set the alarm's state on the endpoint and publish CloudWatch's notifications for it; returns how many.

        For a contributor ({"id", "attributes"}) of a multi-time-series alarm, as CloudWatch documents
        (tests/fixtures/aws/sns-metrics-insights-*.json): the contributor's own notification (its id and
        attributes, `reason` as its simplified state reason), DescribeAlarmContributors answering the
        contributors in ALARM, and, when the alarm's own state changes with it, the alarm-level notification
        of the same evaluation time ("N out of M time series evaluated to ALARM", no contributor)."""
        before = self.cw.describe_alarms(AlarmNames=[alarm_name])["MetricAlarms"][0]
        at = datetime.now(timezone.utc)
        if contributor is None or not self.multi_series(before):
            self.cw.set_alarm_state(AlarmName=alarm_name, StateValue=new_state, StateReason=reason)
            alarm = self.cw.describe_alarms(AlarmNames=[alarm_name])["MetricAlarms"][0]
            return self._publish(alarm, before["StateValue"], new_state, reason, at, contributor)
        series = self.series.setdefault(alarm_name, {})
        old = series.get(contributor["id"], {}).get("state", "OK")  # a contributor is only ever ALARM or OK
        series[contributor["id"]] = {"state": new_state, "attributes": contributor["attributes"], "reason": reason, "at": at}
        self.insights.contributors[alarm_name] = [
            {"ContributorId": cid, "ContributorAttributes": c["attributes"], "StateReason": c["reason"][:1023],
             "StateTransitionedTimestamp": c["at"]} for cid, c in series.items() if c["state"] == "ALARM"]
        sent = self._publish(before, old, new_state, reason, at, contributor)
        breaching = sum(c["state"] == "ALARM" for c in series.values())
        level = "ALARM" if breaching else "OK"
        if level != before["StateValue"]:
            level_reason = f"{breaching} out of {len(series)} time series evaluated to ALARM"
            self.cw.set_alarm_state(AlarmName=alarm_name, StateValue=level, StateReason=level_reason)
            alarm = self.cw.describe_alarms(AlarmNames=[alarm_name])["MetricAlarms"][0]
            sent += self._publish(alarm, before["StateValue"], level, level_reason, at)
        return sent

    def records(self, expected: int) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for _ in range(50):
            msgs = self.sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
            for m in msgs:
                out.append(lambda_record(json.loads(m["Body"]), self.subscription))
                self.sqs.delete_message(QueueUrl=self.queue, ReceiptHandle=m["ReceiptHandle"])
            if len(out) >= expected:
                break
        return out


class MetricsInsightsStandIn:
    """What the local endpoint (moto) lacks, in the test process where it runs: Metrics Insights queries in
    GetMetricData (moto sums every datum) and DescribeAlarmContributors (not in moto). Both follow AWS's
    documented shapes (tests/fixtures/aws/, docs/aws-contracts.md): a GROUP BY query answers one series per
    group, labelled with the group's values in GROUP BY order and, with ORDER BY, its rank ("1 - shop api");
    a GROUP BY key a series has no dimension for reads "Other" (only possible without SCHEMA, which keeps
    exactly the named dimension set); contributors are {ContributorId, ContributorAttributes, StateReason,
    StateTransitionedTimestamp}. The product code calls them through boto3 as against AWS."""

    QUERY = re.compile(
        r"^\s*SELECT\s+(?P<fn>\w+)\(\s*(?P<metric>[\w.-]+)\s*\)\s+FROM\s+"
        r"(?:SCHEMA\((?P<schema>[^)]*)\)|\"?(?P<namespace>[\w/.-]+)\"?)"
        r"(?:\s+WHERE\s+(?P<where>.*?))?(?:\s+GROUP\s+BY\s+(?P<group>.*?))?"
        r"(?:\s+ORDER\s+BY\s+(?P<ofn>\w+)\(\)\s*(?P<dir>ASC|DESC)?)?(?:\s+LIMIT\s+(?P<limit>\d+))?\s*$", re.I | re.S)
    FUNCTIONS = {"AVG": lambda v: sum(v) / len(v), "MAX": max, "MIN": min, "SUM": sum, "COUNT": len}

    def __init__(self) -> None:
        self.contributors: dict[str, list[dict[str, Any]]] = {}
        self.queries: list[str] = []
        from moto.cloudwatch import models, responses
        from moto.core.responses import ActionResult
        stand_in = self
        original = models.CloudWatchBackend.get_metric_data
        if getattr(original, "_insights_stand_in", False):
            original = original._original

        def get_metric_data(backend, queries, start_time, end_time, scan_by="TimestampAscending"):
            insights = [q for q in queries if str(q.get("Expression", "")).lstrip().upper().startswith("SELECT")]
            rest = [q for q in queries if q not in insights]
            out = original(backend, rest, start_time, end_time, scan_by) if rest else []
            for q in insights:
                out += stand_in.run(backend, q, start_time, end_time)
            return out
        get_metric_data._insights_stand_in = True
        get_metric_data._original = original
        models.CloudWatchBackend.get_metric_data = get_metric_data

        def describe_alarm_contributors(response):
            name = response._get_params().get("AlarmName")
            return ActionResult({"AlarmContributors": stand_in.contributors.get(name, [])})
        responses.CloudWatchResponse.describe_alarm_contributors = describe_alarm_contributors

    def run(self, backend, q: dict[str, Any], start, end) -> list[dict[str, Any]]:
        from datetime import timedelta
        self.queries.append(q["Expression"])
        m = self.QUERY.match(q["Expression"])
        if not m:
            raise ValueError(f"stand-in cannot run {q['Expression']!r}")
        if m["schema"]:  # SCHEMA(namespace, keys...): only metrics with exactly these dimensions
            schema = [x.strip().strip('"') for x in m["schema"].split(",")]
            namespace, keys = schema[0], set(schema[1:])
        else:  # a bare namespace: every dimension set of the metric
            namespace, keys = m["namespace"], None
        where = dict(re.findall(r"(\w+)\s*=\s*'([^']*)'", m["where"] or ""))
        group = [g.strip() for g in m["group"].split(",")] if m["group"] else []  # none: one series
        fn = self.FUNCTIONS[m["fn"].upper()]
        period = timedelta(seconds=int(q.get("Period", 60)))
        series: dict[tuple, dict] = {}
        for md in backend.get_all_metrics():
            dims = {d.name: d.value for d in md.dimensions}
            if md.namespace != namespace or md.name != m["metric"] or (keys is not None and set(dims) != keys):
                continue
            if not (start <= md.timestamp < end) or any(dims.get(k) != v for k, v in where.items()):
                continue
            bucket = start + ((md.timestamp - start) // period) * period
            # a GROUP BY key the metric has no dimension for groups as "Other" (Metrics Insights troubleshooting)
            key = tuple(dims.get(g, "Other") for g in group)
            series.setdefault(key, {}).setdefault(bucket, []).append(float(md.value))
        rows = []
        for values, buckets in series.items():
            stamps = sorted(buckets)
            rows.append((fn([v for b in stamps for v in buckets[b]]), values, stamps, [fn(buckets[b]) for b in stamps]))
        rows.sort(key=lambda r: r[0], reverse=(m["dir"] or "DESC").upper() == "DESC")
        if m["limit"]:
            rows = rows[: int(m["limit"])]
        # labels: the GROUP BY values in order; with ORDER BY, prefixed with the rank ("1 - shop api")
        ranked = bool(m["ofn"])
        return [{"id": q["Id"], "label": (f"{i} - " if ranked else "") + (" ".join(values) if group else q.get("Label", "")),
                 "values": vals,
                 "timestamps": stamps, "status_code": "Complete"}
                for i, (_, values, stamps, vals) in enumerate(rows, start=1)]
