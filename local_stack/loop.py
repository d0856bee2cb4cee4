"""The seed's loop on the local stack: kubelet → Container Insights → CloudWatch alarm → SNS → bridge → Incident.

`AlarmLoop` wires the local-stack parts together around a local CloudWatch/SNS endpoint (moto):
- the Container Insights agent (local_stack.container_insights) publishing the real node's metrics;
- `incident-operator alarms setup` (the product's own code) creating the alarms with the SNS topic as their
  alarm and OK action;
- the alarm evaluator (local_stack.alarm_evaluator) changing alarm states and publishing CloudWatch's
  notifications to the topic;
- an SQS subscription on the topic, from which each delivered SNS envelope is handed, as Lambda's SNS
  event, to the bridge Lambda's handler (the production `bridge_lambda.handler.handle`).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from incident_operator.alarms import AlarmSpec, DEFAULT_ALARMS, setup as alarms_setup
from incident_operator.scenarios.notifications import lambda_record

from .alarm_evaluator import Evaluator
from .container_insights import Publisher
from .ticker import Ticker


def fast_alarms(period: int = 10, cpu_threshold: float | None = None, node_threshold: float | None = None,
                restarts_threshold: float | None = None) -> list[AlarmSpec]:
    """The seed's three alarms with a high-resolution period (CloudWatch allows 10 s and 30 s), the same
    evaluation rule otherwise; thresholds may be set for a small node (one busy core of two is 50 %)."""
    over = {"netaiops-cpu-spike": cpu_threshold, "netaiops-node-cpu-high": node_threshold,
            "netaiops-pod-restarts": restarts_threshold}
    out = []
    for a in DEFAULT_ALARMS:
        change: dict[str, Any] = {"period": period}
        if over[a.name] is not None:
            change["threshold"] = over[a.name]
        out.append(a.model_copy(update=change))
    return out


class BridgePump(Ticker):
    """SNS → (SQS subscription) → the bridge handler, one Lambda SNS event per delivered message."""

    def __init__(self, sns: Any, sqs: Any, topic_arn: str, handle: Any, interval: float = 1.0):
        self.sqs, self.handle, self.interval = sqs, handle, interval
        self.queue = sqs.create_queue(QueueName=f"bridge-{uuid.uuid4().hex[:8]}")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=self.queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.subscription = sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn)["SubscriptionArn"]
        self.results: list[dict[str, Any]] = []
        self.last_error: str | None = None

    thread_name = "bridge-pump"

    def tick(self) -> int:
        msgs = self.sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        for m in msgs:
            event = {"Records": [lambda_record(json.loads(m["Body"]), self.subscription)]}
            out = self.handle(event)
            self.results.append(out)
            if not out.get("batchItemFailures"):   # a failed record stays on the queue and comes back
                self.sqs.delete_message(QueueUrl=self.queue, ReceiptHandle=m["ReceiptHandle"])
        return len(msgs)


class AlarmLoop:
    def __init__(self, aws: Any, api_client: Any, cluster: str, alarms: list[AlarmSpec], handle: Any,
                 publish_every: float = 5.0, evaluate_every: float = 5.0):
        self.cw, self.sns, self.sqs = aws.client("cloudwatch"), aws.client("sns"), aws.client("sqs")
        self.setup = alarms_setup(self.cw, self.sns, cluster, None, "netaiops-incident-alarms", alarms)
        self.topic = self.setup["topicArn"]
        self.publisher = Publisher(api_client, self.cw, cluster, interval=publish_every)
        insights = getattr(aws, "insights", None)
        # the alarms this loop set up (an endpoint shared in a process may hold others')
        self.evaluator = Evaluator(self.cw, self.sns, interval=evaluate_every, alarm_names=[a.name for a in alarms],
                                   on_contributors=(insights.contributors.__setitem__ if insights else None))
        self.pump = BridgePump(self.sns, self.sqs, self.topic, handle)

    def start(self) -> "AlarmLoop":
        self.publisher.start()
        self.evaluator.start()
        self.pump.start()
        return self

    def stop(self) -> None:
        for part in (self.pump, self.evaluator, self.publisher):
            part.stop()

    def errors(self) -> dict[str, str]:
        return {name: err for name, err in (("container-insights", self.publisher.last_error),
                                            ("evaluator", self.evaluator.last_error), ("bridge", self.pump.last_error)) if err}
