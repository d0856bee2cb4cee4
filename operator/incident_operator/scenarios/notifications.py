"""CloudWatch's SNS notification for an alarm state change, and the Lambda SNS record carrying it.

One renderer for the scenario replay, the benchmarks and the tests, so they all hand the bridge the
documented shape.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from typing import Any

REGION_NAME = "Asia Pacific (Seoul)"


def cloudwatch_message(alarm: dict[str, Any], old_state: str, new_state: str, reason: str,
                       at: datetime | None = None, contributor: dict[str, Any] | None = None) -> str:
    """The notification JSON; `alarm` is shaped like a DescribeAlarms MetricAlarm.

    A single-metric alarm's Trigger names the metric and its dimensions; an alarm on `Metrics` (metric
    math, Metrics Insights) carries them as `Trigger.Metrics`, as CloudWatch documents. For one
    contributor of a multi-time-series alarm, `contributor` ({"id", "attributes"}) adds
    `AlarmContributorId` / `AlarmContributorAttributes` (the field names of CloudWatch's contributor
    notifications and alarm history)."""
    at = at or datetime.now(timezone.utc)

    def cw_time(t: Any) -> str:  # CloudWatch's notification time format: 2026-12-01T13:42:04.919+0000
        if not isinstance(t, datetime):
            return str(t)
        t = t.astimezone(timezone.utc)
        return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}+0000"

    trigger: dict[str, Any] = {
        "Period": alarm.get("Period"), "EvaluationPeriods": alarm["EvaluationPeriods"],
        "DatapointsToAlarm": alarm.get("DatapointsToAlarm"), "ComparisonOperator": alarm["ComparisonOperator"],
        "Threshold": alarm["Threshold"], "TreatMissingData": alarm.get("TreatMissingData", "missing"),
        "EvaluateLowSampleCountPercentile": "",
    }
    if alarm.get("Metrics"):
        trigger["Metrics"] = [{k: v for k, v in m.items() if v is not None} for m in alarm["Metrics"]]
        trigger["Period"] = trigger["Period"] or next((m.get("Period") for m in alarm["Metrics"] if m.get("Period")), None)
    else:
        trigger.update({
            "MetricName": alarm["MetricName"], "Namespace": alarm["Namespace"], "StatisticType": "Statistic",
            "Statistic": alarm["Statistic"].upper(), "Unit": None,
            "Dimensions": [{"value": d["Value"], "name": d["Name"]} for d in alarm.get("Dimensions", [])]})
    message: dict[str, Any] = {
        "AlarmName": alarm["AlarmName"], "AlarmDescription": alarm.get("AlarmDescription"),
        "AWSAccountId": alarm["AlarmArn"].split(":")[4], "AlarmConfigurationUpdatedTimestamp":
            cw_time(alarm.get("AlarmConfigurationUpdatedTimestamp")),
        "NewStateValue": new_state, "NewStateReason": reason, "StateChangeTime": cw_time(at),
        "Region": REGION_NAME, "AlarmArn": alarm["AlarmArn"], "OldStateValue": old_state,
        "OKActions": alarm.get("OKActions", []), "AlarmActions": alarm.get("AlarmActions", []),
        "InsufficientDataActions": alarm.get("InsufficientDataActions", []),
        "Trigger": trigger,
    }
    if contributor:
        message["AlarmContributorId"] = contributor["id"]
        message["AlarmContributorAttributes"] = contributor["attributes"]
    return json.dumps(message, default=str)


def lambda_record(envelope: dict[str, Any], subscription_arn: str) -> dict[str, Any]:
    """An SNS envelope (as SNS delivers it) in the shape Lambda's SNS event carries it."""
    return {"EventSource": "aws:sns", "EventVersion": "1.0", "EventSubscriptionArn": subscription_arn,
            "Sns": {"Type": envelope["Type"], "MessageId": envelope["MessageId"], "TopicArn": envelope["TopicArn"],
                    "Subject": envelope.get("Subject"), "Message": envelope["Message"],
                    "Timestamp": envelope["Timestamp"], "SignatureVersion": envelope.get("SignatureVersion", "1"),
                    "Signature": envelope.get("Signature", ""), "SigningCertUrl": envelope.get("SigningCertURL", ""),
                    "UnsubscribeUrl": envelope.get("UnsubscribeURL", ""), "MessageAttributes": {}}}


def notification_record(message: str, topic_arn: str = "arn:aws:sns:ap-northeast-2:123456789012:incident-alarms",
                        message_id: str | None = None) -> dict[str, Any]:
    """A Lambda SNS record for a notification published straight to the topic."""
    return lambda_record({"Type": "Notification", "MessageId": message_id or str(uuid.uuid4()), "TopicArn": topic_arn,
                          "Message": message, "Timestamp": datetime.now(timezone.utc).isoformat()},
                         f"{topic_arn}:subscription")
