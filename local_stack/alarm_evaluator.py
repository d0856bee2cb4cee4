"""CloudWatch alarm evaluation for the local stack: what the local CloudWatch (moto) stores but never runs.

A stand-in for that behaviour alone, following AWS's documented semantics, driven only through the public
CloudWatch and SNS APIs (boto3 against the local endpoint):

- "Evaluating an alarm" / "Configuring how CloudWatch alarms treat missing data"
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarm-evaluation.html
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarms-and-missing-data.html
  Period, EvaluationPeriods (M), DatapointsToAlarm (N): ALARM when at least N of the last M datapoints
  breach; TreatMissingData `missing` (default: all missing → INSUFFICIENT_DATA), `notBreaching`, `breaching`,
  `ignore` (keep the current state).
- "Create an alarm on a Metrics Insights query" / multi-time-series alarms
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch-metrics-insights-alarm-create.html
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/multi-time-series-alarms.html
  a query with GROUP BY makes one time series per group, each a *contributor* with its own state; the alarm
  is in ALARM while any contributor is; notifications name the contributor (AlarmContributorId and
  AlarmContributorAttributes: the GROUP BY keys and values) and are sent for the alarm too.
- The notification JSON is CloudWatch's documented SNS message (incident_operator.scenarios.notifications),
  published to the alarm's AlarmActions / OKActions topics, from where SNS delivers it to the bridge.
- The state reason follows CloudWatch's wording, e.g. "Threshold Crossed: 2 out of the last 3 datapoints
  [92.1 (06/12/26 21:02:00), 88.0 (06/12/26 21:01:00)] were greater than the threshold (80.0) (minimum 2
  datapoints for OK -> ALARM transition)."

Periods are the alarms' own: a test that wants it fast creates alarms with a high-resolution period (10 s,
which CloudWatch allows) rather than changing the semantics. The evaluation is a pure function
(`evaluate`) over the datapoints; the loop, the reads and the notifications are at the edges.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from incident_operator.scenarios.notifications import REGION_NAME, cloudwatch_message

from .ticker import Ticker

OPS: dict[str, tuple[Callable[[float, float], bool], str]] = {
    "GreaterThanThreshold": (lambda v, t: v > t, "greater than"),
    "GreaterThanOrEqualToThreshold": (lambda v, t: v >= t, "greater than or equal to"),
    "LessThanThreshold": (lambda v, t: v < t, "less than"),
    "LessThanOrEqualToThreshold": (lambda v, t: v <= t, "less than or equal to"),
}
INSIGHTS = re.compile(
    r"^\s*SELECT\s+(?P<fn>\w+)\(\s*(?P<metric>[\w.-]+)\s*\)\s+FROM\s+SCHEMA\((?P<schema>[^)]*)\)"
    r"(?:\s+WHERE\s+(?P<where>.*?))?(?:\s+GROUP\s+BY\s+(?P<group>.*?))?"
    r"(?:\s+ORDER\s+BY\s+\w+\(\)\s*(?:ASC|DESC)?)?(?:\s+LIMIT\s+(?P<limit>\d+))?\s*$", re.I | re.S)


@dataclass(frozen=True)
class Verdict:
    state: str     # ALARM | OK | INSUFFICIENT_DATA
    reason: str


def _stamp(t: datetime) -> str:
    return t.strftime("%d/%m/%y %H:%M:%S")


def evaluate(points: list[tuple[datetime, float | None]], threshold: float, operator: str, evaluation_periods: int,
             datapoints_to_alarm: int, treat_missing: str, current: str) -> Verdict:
    """The state of one time series from its last M periods (oldest first; None = no datapoint)."""
    breach, words = OPS[operator]
    recent = points[-evaluation_periods:]
    present = [(t, v) for t, v in recent if v is not None]
    treat = treat_missing or "missing"
    if not present and treat in ("missing", "ignore"):
        if treat == "ignore":
            return Verdict(current, "No datapoints: current state kept (TreatMissingData ignore)")
        return Verdict("INSUFFICIENT_DATA", f"Insufficient Data: {len(recent)} datapoints were unknown.")
    breaching = [(t, v) for t, v in present if breach(v, threshold)]
    missing = len(recent) - len(present)
    n_breach = len(breaching) + (missing if treat == "breaching" else 0)
    shown = ", ".join(f"{v} ({_stamp(t)})" for t, v in sorted(present, reverse=True))
    count = len(recent)
    if n_breach >= datapoints_to_alarm:
        were = "was" if count == 1 else "were"
        return Verdict("ALARM", f"Threshold Crossed: {n_breach} out of the last {count} datapoints [{shown}] {were} {words} "
                                f"the threshold ({float(threshold)}) (minimum {datapoints_to_alarm} datapoint"
                                f"{'s' if datapoints_to_alarm > 1 else ''} for OK -> ALARM transition).")
    ok = count - n_breach
    were = "was" if count == 1 else "were"
    return Verdict("OK", f"Threshold Crossed: {ok} out of the last {count} datapoints [{shown}] {were} not {words} "
                         f"the threshold ({float(threshold)}) (minimum 1 datapoint for ALARM -> OK transition).")


def _stat(kind: str, agg: dict[str, float]) -> float:
    if kind in ("AVG", "Average"):
        return agg["Sum"] / agg["SampleCount"] if agg["SampleCount"] else 0.0
    return {"MAX": agg["Maximum"], "Maximum": agg["Maximum"], "MIN": agg["Minimum"], "Minimum": agg["Minimum"],
            "SUM": agg["Sum"], "Sum": agg["Sum"], "COUNT": agg["SampleCount"], "SampleCount": agg["SampleCount"]}[kind]


def _merge(into: dict[datetime, dict[str, float]], datapoints: list[dict[str, Any]], start: datetime, period: int) -> None:
    """Add datapoints to their period slots (aligned on `start`, as the evaluation's periods are)."""
    for d in datapoints:
        ts = d["Timestamp"].astimezone(timezone.utc)
        slot = start + timedelta(seconds=period * int((ts - start).total_seconds() // period))
        agg = into.setdefault(slot, {"SampleCount": 0.0, "Sum": 0.0, "Maximum": float("-inf"), "Minimum": float("inf")})
        agg["SampleCount"] += d.get("SampleCount", 0.0)
        agg["Sum"] += d.get("Sum", 0.0)
        agg["Maximum"] = max(agg["Maximum"], d.get("Maximum", float("-inf")))
        agg["Minimum"] = min(agg["Minimum"], d.get("Minimum", float("inf")))


def contributor_id(attributes: dict[str, str]) -> str:
    return hashlib.sha256("\x00".join(f"{k}={v}" for k, v in sorted(attributes.items())).encode()).hexdigest()[:32]


@dataclass
class Evaluator(Ticker):
    """Evaluates every alarm on the endpoint every `interval` seconds and sends what CloudWatch would send."""
    cloudwatch: Any
    sns: Any
    interval: float = 5.0
    on_contributors: Callable[[str, list[dict[str, Any]]], None] | None = None  # DescribeAlarmContributors' data
    now: Callable[[], datetime] = field(default=lambda: datetime.now(timezone.utc))
    alarm_names: list[str] | None = None   # only these (None: every alarm on the endpoint)
    contributors: dict[str, dict[str, tuple[str, dict[str, str], datetime, str]]] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)   # every notification sent, for timelines
    last_error: str | None = None
    thread_name = "alarm-evaluator"

    # ------------------------------------------------------------ reads
    def _windows(self, period: int, count: int) -> tuple[datetime, datetime, list[datetime]]:
        now = self.now()
        end = datetime.fromtimestamp((int(now.timestamp()) // period) * period, timezone.utc)
        start = end - timedelta(seconds=period * count)
        return start, end, [start + timedelta(seconds=period * i) for i in range(count)]

    def _series_single(self, alarm: dict[str, Any]) -> dict[tuple, list[tuple[datetime, float | None]]]:
        period, m = alarm["Period"], alarm["EvaluationPeriods"]
        start, end, slots = self._windows(period, m)
        res = self.cloudwatch.get_metric_statistics(
            Namespace=alarm["Namespace"], MetricName=alarm["MetricName"], Dimensions=alarm.get("Dimensions", []),
            StartTime=start, EndTime=end, Period=period, Statistics=["SampleCount", "Sum", "Maximum", "Minimum"])
        agg: dict[datetime, dict[str, float]] = {}
        _merge(agg, res["Datapoints"], start, period)
        stat = alarm.get("Statistic", "Average")
        return {(): [(t, _stat(stat, agg[t]) if t in agg else None) for t in slots]}

    def _series_insights(self, alarm: dict[str, Any], query: dict[str, Any]) -> tuple[list[str], dict[tuple, list[tuple[datetime, float | None]]]]:
        m = INSIGHTS.match(query["Expression"])
        if not m:
            raise ValueError(f"not a Metrics Insights query this evaluator runs: {query['Expression']!r}")
        schema = [x.strip().strip('"') for x in m["schema"].split(",")]
        namespace, keys = schema[0], set(schema[1:])
        where = dict(re.findall(r"(\w+)\s*=\s*'((?:[^']|'')*)'", m["where"] or ""))
        where = {k: v.replace("''", "'") for k, v in where.items()}
        group = [g.strip() for g in (m["group"] or "").split(",") if g.strip()]
        period = query.get("Period") or alarm.get("Period") or 60
        start, end, slots = self._windows(period, alarm["EvaluationPeriods"])
        grouped: dict[tuple, dict[datetime, dict[str, float]]] = {}
        seen: set[tuple] = set()
        for page in self.cloudwatch.get_paginator("list_metrics").paginate(Namespace=namespace, MetricName=m["metric"]):
            for metric in page["Metrics"]:
                dims = {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}
                if set(dims) != keys or any(dims.get(k) != v for k, v in where.items()):
                    continue
                if tuple(sorted(dims.items())) in seen:  # one series once (the local endpoint lists a metric per datum)
                    continue
                seen.add(tuple(sorted(dims.items())))
                res = self.cloudwatch.get_metric_statistics(
                    Namespace=namespace, MetricName=m["metric"], Dimensions=metric["Dimensions"], StartTime=start,
                    EndTime=end, Period=period, Statistics=["SampleCount", "Sum", "Maximum", "Minimum"])
                if res["Datapoints"]:
                    _merge(grouped.setdefault(tuple(dims.get(g, "Other") for g in group), {}), res["Datapoints"], start, period)
        fn = m["fn"].upper()
        series = {key: [(t, _stat(fn, agg[t]) if t in agg else None) for t in slots] for key, agg in grouped.items()}
        if m["limit"]:
            ranked = sorted(series, key=lambda k: max((v for _, v in series[k] if v is not None), default=0), reverse=True)
            series = {k: series[k] for k in ranked[: int(m["limit"])]}
        return group, series

    # ------------------------------------------------------------ one pass
    def _notify(self, alarm: dict[str, Any], old: str, new: str, reason: str, contributor: dict[str, Any] | None) -> None:
        actions = {"ALARM": alarm.get("AlarmActions", []), "OK": alarm.get("OKActions", []),
                   "INSUFFICIENT_DATA": alarm.get("InsufficientDataActions", [])}[new]
        at = self.now()
        self.history.append({"alarm": alarm["AlarmName"], "old": old, "new": new, "at": at, "reason": reason,
                             "contributor": (contributor or {}).get("attributes")})
        if not alarm.get("ActionsEnabled", True):
            return
        message = cloudwatch_message({**alarm, "StateValue": new, "StateReason": reason}, old, new, reason, at=at,
                                     contributor=contributor)
        for topic in actions:
            self.sns.publish(TopicArn=topic, Subject=f'{new}: "{alarm["AlarmName"]}" in {REGION_NAME}'[:100], Message=message)

    def evaluate_alarm(self, alarm: dict[str, Any]) -> None:
        name = alarm["AlarmName"]
        threshold, op = alarm["Threshold"], alarm["ComparisonOperator"]
        m_, n_ = alarm["EvaluationPeriods"], alarm.get("DatapointsToAlarm") or alarm["EvaluationPeriods"]
        treat = alarm.get("TreatMissingData", "missing")
        queries = [q for q in alarm.get("Metrics") or [] if q.get("ReturnData", True) and "SELECT" in str(q.get("Expression", "")).upper()]
        if queries:
            group, series = self._series_insights(alarm, queries[0])
        else:
            group, series = [], self._series_single(alarm)
        known = self.contributors.setdefault(name, {})
        for key, points in series.items():
            attrs = dict(zip(group, key))
            cid = contributor_id(attrs) if group else ""
            prev = known.get(cid, ("OK" if group else alarm.get("StateValue", "INSUFFICIENT_DATA"), attrs, self.now(), ""))
            verdict = evaluate(points, threshold, op, m_, n_, treat, prev[0])
            if group and verdict.state == "INSUFFICIENT_DATA":
                verdict = Verdict("OK", verdict.reason)   # a contributor with no data is not in ALARM
            known[cid] = (verdict.state, attrs, self.now() if verdict.state != prev[0] else prev[2], verdict.reason)
            if group and verdict.state != prev[0]:
                self._notify(alarm, prev[0], verdict.state, verdict.reason, {"id": cid, "attributes": attrs})
        for cid in [c for c in known if group and c and tuple(known[c][1].get(g) for g in group) not in series]:
            state, attrs, since, _ = known[cid]   # a contributor that stopped reporting: notBreaching/missing → OK
            if state == "ALARM" and treat in ("notBreaching", "missing"):
                reason = "Threshold Crossed: no datapoints were received for the contributor (missing data treated as not breaching)."
                known[cid] = ("OK", attrs, self.now(), reason)
                self._notify(alarm, "ALARM", "OK", reason, {"id": cid, "attributes": attrs})
        if group:
            alarming = [c for c in known.values() if c[0] == "ALARM"]
            total = len(known)
            new_state = "ALARM" if alarming else ("OK" if series or treat == "notBreaching" else "INSUFFICIENT_DATA")
            reason = f"{len(alarming)} out of {total} time series evaluated to ALARM"
        else:
            new_state, reason = known[""][0], known[""][3]
        if new_state != alarm.get("StateValue"):
            self.cloudwatch.set_alarm_state(AlarmName=name, StateValue=new_state, StateReason=reason[:1023])
            self._notify(alarm, alarm.get("StateValue", "INSUFFICIENT_DATA"), new_state, reason, None)
        if group and self.on_contributors:
            self.on_contributors(name, [
                {"ContributorId": cid, "ContributorAttributes": attrs, "StateReason": why,
                 "StateTransitionedTimestamp": since} for cid, (state, attrs, since, why) in known.items() if state == "ALARM"])

    def tick(self) -> None:
        kw: dict[str, Any] = {"AlarmNames": self.alarm_names} if self.alarm_names else {}
        for page in self.cloudwatch.get_paginator("describe_alarms").paginate(AlarmTypes=["MetricAlarm"], **kw):
            for alarm in page["MetricAlarms"]:
                self.evaluate_alarm(alarm)
