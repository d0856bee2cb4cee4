"""`incident-operator alarms setup`: the three Container Insights alarms, with alarm and OK actions
on the SNS topic the bridge Lambda listens to. put_metric_alarm replaces an alarm of the same name,
so running it again converges instead of duplicating."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field


# The dimensions Container Insights publishes each metric with, and the ones that name the culprit
SCHEMAS = {
    "pod": ("SCHEMA(ContainerInsights, ClusterName, Namespace, PodName)", ("Namespace", "PodName")),
    "node": ("SCHEMA(ContainerInsights, ClusterName, InstanceId, NodeName)", ("NodeName",)),
}
INSIGHTS_FUNCTIONS = {"Average": "AVG", "Maximum": "MAX", "Minimum": "MIN", "Sum": "SUM", "SampleCount": "COUNT"}


class AlarmSpec(BaseModel):
    name: str
    metric: str
    threshold: float
    period: int = Field(default=60, ge=10)
    evaluation_periods: int = Field(default=3, ge=1)
    datapoints_to_alarm: int = Field(default=2, ge=1)
    statistic: Literal["Average", "Maximum", "Minimum", "Sum", "SampleCount"] = "Average"
    comparison: str = "GreaterThanThreshold"
    description: str = ""
    contributors: int = Field(default=100, ge=1, le=500, description="LIMIT of the grouped query (time series watched)")

    @property
    def level(self) -> str:
        return "node" if self.metric.startswith("node_") else "pod"

    def query(self, cluster: str) -> str:
        """A Metrics Insights query grouped by what names the culprit: one contributor per pod (or node)."""
        schema, group = SCHEMAS[self.level]
        fn = INSIGHTS_FUNCTIONS[self.statistic]
        cluster_q = cluster.replace("'", "''")
        return (f"SELECT {fn}({self.metric}) FROM {schema} WHERE ClusterName = '{cluster_q}' "
                f"GROUP BY {', '.join(group)} ORDER BY {fn}() DESC LIMIT {self.contributors}")


DEFAULT_ALARMS = [
    AlarmSpec(name="netaiops-cpu-spike", metric="pod_cpu_utilization", threshold=80, period=60,
              evaluation_periods=3, datapoints_to_alarm=2, description="파드 CPU 사용률 급증"),
    AlarmSpec(name="netaiops-pod-restarts", metric="pod_number_of_container_restarts", threshold=3, period=300,
              evaluation_periods=1, datapoints_to_alarm=1, statistic="Maximum", description="파드 컨테이너 재시작 반복"),
    AlarmSpec(name="netaiops-node-cpu-high", metric="node_cpu_utilization", threshold=85, period=60,
              evaluation_periods=3, datapoints_to_alarm=2, description="노드 CPU 사용률 높음"),
]


def load_alarms(path: str | None) -> list[AlarmSpec]:
    if not path:
        return list(DEFAULT_ALARMS)
    data = yaml.safe_load(Path(path).read_text()) or []
    return [AlarmSpec.model_validate(x) for x in (data.get("alarms", []) if isinstance(data, dict) else data)]


def setup(cloudwatch: Any, sns: Any, cluster: str, topic_arn: str | None, topic_name: str | None,
          alarms: list[AlarmSpec]) -> dict[str, Any]:
    if not topic_arn:
        topic_arn = sns.create_topic(Name=topic_name or "netaiops-incident-alarms")["TopicArn"]  # idempotent
    for a in alarms:
        # a multi-time-series alarm: each pod (node) is a contributor with its own state and notifications
        cloudwatch.put_metric_alarm(
            AlarmName=a.name, AlarmDescription=a.description,
            Metrics=[{"Id": "q1", "Expression": a.query(cluster), "Period": a.period, "ReturnData": True,
                      "Label": a.metric}],
            EvaluationPeriods=a.evaluation_periods, DatapointsToAlarm=a.datapoints_to_alarm, Threshold=a.threshold,
            ComparisonOperator=a.comparison, TreatMissingData="notBreaching", ActionsEnabled=True,
            AlarmActions=[topic_arn], OKActions=[topic_arn])
    return {"topicArn": topic_arn, "alarms": [{"name": a.name, "query": a.query(cluster)} for a in alarms]}
