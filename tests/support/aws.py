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
import socket
import uuid
from typing import Any

from incident_operator.scenarios.notifications import REGION_NAME, cloudwatch_message, lambda_record

__all__ = ["LocalAws", "AlarmPipe", "cloudwatch_message", "lambda_record", "free_port"]

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
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def client(self, service: str):
        import boto3
        return boto3.client(service, region_name=REGION, endpoint_url=self.endpoint)

    def stop(self) -> None:
        self.server.stop()


class AlarmPipe:
    """Topic → SQS subscriber, so what SNS really delivered can be handed to the Lambda handler."""

    def __init__(self, aws: LocalAws, topic_arn: str):
        self.sns, self.sqs, self.cw = aws.client("sns"), aws.client("sqs"), aws.client("cloudwatch")
        self.topic_arn = topic_arn
        self.queue = self.sqs.create_queue(QueueName=f"bridge-{uuid.uuid4().hex[:8]}")["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.subscription = self.sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn)["SubscriptionArn"]

    def fire(self, alarm_name: str, new_state: str, reason: str = "Threshold Crossed") -> None:
        """Set the alarm's state on the endpoint and publish CloudWatch's notification for it."""
        before = self.cw.describe_alarms(AlarmNames=[alarm_name])["MetricAlarms"][0]
        self.cw.set_alarm_state(AlarmName=alarm_name, StateValue=new_state, StateReason=reason)
        alarm = self.cw.describe_alarms(AlarmNames=[alarm_name])["MetricAlarms"][0]
        actions = {"ALARM": alarm["AlarmActions"], "OK": alarm["OKActions"],
                   "INSUFFICIENT_DATA": alarm.get("InsufficientDataActions", [])}[new_state]
        for topic in actions:
            self.sns.publish(TopicArn=topic, Subject=f'{new_state}: "{alarm_name}" in {REGION_NAME}',
                             Message=cloudwatch_message(alarm, before["StateValue"], new_state, reason))

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
