"""The effectiveness check asks CloudWatch for the Incident's alarm (phases/assess.py), against the real API server
and a real AWS endpoint (moto in server mode, local_stack/aws.py): put_metric_alarm, then set_alarm_state to ALARM,
OK and INSUFFICIENT_DATA; the alarm deleted; CloudWatch unreachable. The response read is DescribeAlarms'
documented shape (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_DescribeAlarms.html;
tests/test_aws_contracts.py checks it against tests/fixtures/aws/describe-alarms.json)."""

from __future__ import annotations

import time
import uuid

import pytest

from incident_operator import pipeline
from incident_operator.phases import assess
from incident_operator.runtime import build_context
from incident_operator.settings import Settings
from incident_operator.tools import cloudwatch
from local_stack import scenarios
from local_stack.aws import REGION, free_port
from local_stack.workloads import incident

pytestmark = pytest.mark.cluster


def _settings(ns: str, endpoint: str) -> Settings:
    return Settings(incident_namespaces=[ns], aws_region=REGION, aws_endpoint_url=endpoint, tool_timeout_seconds=5,
                    remediation_effectiveness_seconds=1, remediation_verify_interval_seconds=0.5)


def run_to_end(ctx, timeout: float = 60) -> str:
    """The pipeline, in this process, through its waits (a rollout being verified), as the work queue would."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return pipeline.run(ctx)
        except pipeline.RetryLater as exc:
            assert time.monotonic() < deadline, str(exc)
            time.sleep(min(exc.delay, 1.0))


def _check(ctx) -> dict:
    """The check again, as the handler would run it when it is due (state pending)."""
    ctx.patch_status({"effectiveness": {"state": "pending", "alarm": None, "evidence": None}})
    assess.run(ctx)
    return ctx.kube.custom.get_namespaced_custom_object("netaiops.io", "v1alpha1", ctx.namespace, "incidents",
                                                        ctx.name)["status"]["effectiveness"]


def test_the_effectiveness_check_reads_the_alarm_state_from_cloudwatch(kube, make_namespace, aws):
    ns = make_namespace("eff")  # the bridge's incident namespace here; the workload lives in it too
    settings = _settings(ns, aws.endpoint)
    cw = aws.client("cloudwatch")
    name = f"eff-replicas-{uuid.uuid4().hex[:6]}"
    cw.put_metric_alarm(AlarmName=name, Namespace="ContainerInsights", MetricName="pod_number_of_running_pods",
                        Dimensions=[{"Name": "Namespace", "Value": ns}, {"Name": "PodName", "Value": "web"}],
                        Statistic="Average", Period=60, EvaluationPeriods=1, Threshold=1, ComparisonOperator="LessThanThreshold")
    arn = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["AlarmArn"]
    cw.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="Threshold Crossed: 1 datapoint [0.0] < 1.0")
    scenarios.scaled_to_zero(kube, ns, replicas=2)
    body = incident("eff", target={"namespace": ns, "kind": "Deployment", "name": "web"},
                    alarm={"name": name, "arn": arn, "region": REGION, "state": "ALARM"})
    ctx = scenarios.context(kube, settings, ns, body)
    assert run_to_end(ctx) == "Resolved" and ctx.status["effectiveness"]["state"] == "pending"
    calls: list[str] = []
    cloudwatch._cloudwatch(ctx.deps).meta.events.register(  # the operator's own client: count what it asks
        "before-parameter-build.cloudwatch.DescribeAlarms", lambda **kw: calls.append(kw["params"]["AlarmNames"]))

    # the fix verified healthy, no restarts, no new Incident (the alarm never left ALARM, so the bridge opened none):
    # before, this was "held"; the alarm says otherwise
    eff = _check(ctx)
    assert eff["state"] == "regressed", eff
    assert eff["alarm"]["state"] == "ALARM" and eff["alarm"]["decided"] is True
    assert eff["alarm"]["reason"] == "Threshold Crossed: 1 datapoint [0.0] < 1.0" and eff["alarm"]["updatedAt"]
    assert any(f"알람 {name}이(가) 지금 ALARM — Threshold Crossed: 1 datapoint [0.0] < 1.0" in e for e in eff["evidence"])
    assert any("새 재시작 없음" in e for e in eff["evidence"])  # the other evidence is still there
    labels = kube.custom.get_namespaced_custom_object("netaiops.io", "v1alpha1", ns, "incidents", "eff")["metadata"]["labels"]
    assert labels["netaiops.io/fix-result"] == "regressed"
    assert calls == [[name]]  # one DescribeAlarms per check, for this alarm only
    assert "지금 ALARM" in ctx.status["report"]["markdown"]

    cw.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="Threshold Crossed: 1 datapoint [2.0] >= 1.0")
    eff = _check(ctx)
    assert eff["state"] == "held" and eff["alarm"]["state"] == "OK" and eff["alarm"]["decided"] is True, eff
    assert any("지금도 OK — Threshold Crossed: 1 datapoint [2.0] >= 1.0" in e for e in eff["evidence"])

    # it cannot confirm: recorded, and the restarts and readiness decide (held: the pods run, none restarted)
    cw.set_alarm_state(AlarmName=name, StateValue="INSUFFICIENT_DATA", StateReason="Insufficient Data: 1 datapoint was unknown.")
    eff = _check(ctx)
    assert eff["state"] == "held" and eff["alarm"]["state"] == "INSUFFICIENT_DATA" and eff["alarm"]["decided"] is False, eff
    assert any("확인할 수 없음: 지금 INSUFFICIENT_DATA" in e for e in eff["evidence"])

    cw.delete_alarms(AlarmNames=[name])
    eff = _check(ctx)
    assert eff["state"] == "held" and "state" not in eff["alarm"] and "메트릭 알람이 없음" in eff["alarm"]["problem"], eff
    assert len(calls) == 4

    # CloudWatch unreachable (nothing listens there): the check still finishes, on the other evidence
    down = build_context(kube, _settings(ns, f"http://127.0.0.1:{free_port()}"), ctx.incident)
    down.spec = ctx.spec
    eff = _check(down)
    assert eff["state"] == "held" and "CloudWatch에 물을 수 없음" in eff["alarm"]["problem"], eff
    assert any("재시작·준비 상태로 판단" in e for e in eff["evidence"])


def test_an_incident_opened_by_hand_keeps_the_evidence_it_had(kube, ns, aws):
    """No alarm to ask: no DescribeAlarms, no alarm line; held on health, restarts and new Incidents as before."""
    settings = _settings(ns, aws.endpoint)
    scenarios.scaled_to_zero(kube, ns, replicas=1)
    ctx = scenarios.context(kube, settings, ns, incident("by-hand", target={"namespace": ns, "kind": "Deployment", "name": "web"}))
    assert run_to_end(ctx) == "Resolved"
    calls: list = []
    cloudwatch._cloudwatch(ctx.deps).meta.events.register("before-parameter-build.cloudwatch.DescribeAlarms", lambda **kw: calls.append(1))
    eff = _check(ctx)
    assert eff["state"] == "held" and "alarm" not in eff and not calls, eff
    assert not any(e.startswith("알람 ") for e in eff["evidence"])
