"""The bridge as it ships: `make lambda-zip`'s zip in a Lambda runtime (the Runtime Interface Emulator with the
Python runtime interface client, local_stack/lambda_runtime.py), configured by deploy/aws/bridge.yaml and invoked
the way SNS invokes it (asynchronously: retries, then the on-failure destination), against the real API server.

One execution environment for the module (one cold start, measured); the broken-zip and timeout tests start their
own, each a few hundred milliseconds plus what it waits for."""

from __future__ import annotations

import base64
import copy
import json
import socket
import time
import uuid
import zipfile
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from bridge_lambda.config import ENV_VARS
from bridge_lambda.handler import failed_event
from local_stack.cluster import ROOT, wait_for
from local_stack.lambda_runtime import AsyncInvoker, AsyncRequest, FunctionConfig, LambdaRuntime, sqs_destination

FIXTURE = ROOT / "tests" / "fixtures" / "aws" / "sns-single-metric-alarm.json"
SHORT_RETRIES = (0.05, 0.05)  # Lambda waits 1 and 2 minutes; the order and count of attempts are what is tested


def sns_event() -> dict:
    """AWS's own Lambda SNS event of a CloudWatch alarm notification (the fixture names its source)."""
    return json.loads(FIXTURE.read_text())["event"]


class Function:
    def __init__(self, ns: str, kubeconfig: Path, parameters: dict[str, str]):
        self.ns, self.kubeconfig, self.parameters = ns, kubeconfig, parameters

    def config(self, **overrides: str) -> FunctionConfig:
        return FunctionConfig.from_template(parameters=self.parameters | overrides)

    def runtime(self, zip_path: Path, kubeconfig: Path | None = None, **overrides: str) -> LambdaRuntime:
        # KUBECONFIG: the bridge's local-run credential (docs/aws.md), here the token of an identity bound to the
        # bridge's Role from manifests/rbac-bridge.yaml and nothing else
        return LambdaRuntime(zip_path, self.config(**overrides), extra_env={"KUBECONFIG": str(kubeconfig or self.kubeconfig)})


def bridge_identity(kube, ns: str, path: Path, admin_kubeconfig: str) -> Path:
    """A ServiceAccount with exactly the bridge's Role (manifests/rbac-bridge.yaml) in `ns`, as a kubeconfig."""
    rbac = client.RbacAuthorizationV1Api(kube.core.api_client)
    role, binding = list(yaml.safe_load_all((ROOT / "manifests" / "rbac-bridge.yaml").read_text()))
    role["metadata"]["namespace"] = binding["metadata"]["namespace"] = ns
    # the template maps the function's role to a group; a token of this API server names a ServiceAccount instead
    binding["subjects"] = [{"kind": "ServiceAccount", "name": "incident-bridge", "namespace": ns}]
    kube.core.create_namespaced_service_account(ns, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="incident-bridge")))
    rbac.create_namespaced_role(ns, role)
    rbac.create_namespaced_role_binding(ns, binding)
    token = kube.core.create_namespaced_service_account_token(
        "incident-bridge", ns, client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(
            audiences=[], expiration_seconds=3600))).status.token
    admin = yaml.safe_load(Path(admin_kubeconfig).read_text())
    cluster = dict(admin["clusters"][0]["cluster"])
    if "certificate-authority" in cluster:
        cluster["certificate-authority-data"] = base64.b64encode(Path(cluster.pop("certificate-authority")).read_bytes()).decode()
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "bridge",
        "clusters": [{"name": "local", "cluster": cluster}],
        "users": [{"name": "bridge", "user": {"token": token}}],
        "contexts": [{"name": "bridge", "context": {"cluster": "local", "user": "bridge", "namespace": ns}}]}))
    return path


@pytest.fixture(scope="module")
def function(kube, kubeconfig, tmp_path_factory):
    ns = f"t-lambda-{uuid.uuid4().hex[:8]}"
    kube.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    try:
        wait_for(lambda: kube.core.read_namespaced_service_account("default", ns), 30, "default ServiceAccount")
        path = bridge_identity(kube, ns, tmp_path_factory.mktemp("bridge") / "kubeconfig", kubeconfig)
        yield Function(ns, path, {"ClusterName": "demo", "IncidentNamespace": ns})
    finally:
        kube.core.delete_namespace(ns)


@pytest.fixture(scope="module")
def shipped(function, lambda_zip):
    """The zip `make lambda-zip` builds, running as the template configures it."""
    with function.runtime(lambda_zip) as rt:
        yield rt


def deliver(rt: LambdaRuntime, event: dict, **kw) -> AsyncRequest:
    """SNS → Lambda: one asynchronous invocation, waited for until it succeeded or was given up."""
    invoker = AsyncInvoker(rt, **kw)
    try:
        accepted = invoker.invoke(event)
        assert accepted["StatusCode"] == 202
        return invoker.wait(accepted["RequestId"], timeout=120)
    finally:
        invoker.stop()


def incident_of(req: AsyncRequest, kube, ns: str) -> dict:
    """The Incident the invocation reports it created, read back from the API server."""
    assert req.outcome == "success", f"{req.outcome}: {[a.error for a in req.attempts]}"
    [result] = req.attempts[-1].payload["results"]
    assert result["status"] == "created", result
    return kube.custom.get_namespaced_custom_object("netaiops.io", "v1alpha1", ns, "incidents", result["incident"])


def test_the_shipped_zip_turns_a_documented_sns_event_into_an_incident(shipped, function, kube, lambda_zip, record_property):
    cfg = shipped.config
    names = set(zipfile.ZipFile(lambda_zip).namelist())
    sources = [n for n in names if n.startswith(("bridge_lambda/", "kubernetes/", "pydantic/")) and n.endswith(".py")
               and not n.startswith("kubernetes/aio/")]  # never imported by the bridge: not compiled
    missing = [n for n in sources if "{}/__pycache__/{}.cpython-311.pyc".format(*n[:-3].rsplit("/", 1)) not in names]
    assert sources and not missing, f"no Python 3.11 bytecode in the zip for {missing[:5]}"
    # the function exactly as deploy/aws/bridge.yaml ships it
    assert (cfg.runtime, cfg.handler, cfg.timeout, cfg.memory) == ("python3.11", "bridge_lambda.handler.handle", 30, 256)
    assert (cfg.maximum_retry_attempts, cfg.maximum_event_age) == (2, 21600)
    assert set(cfg.environment) <= set(ENV_VARS.values()) and cfg.environment["INCIDENT_NAMESPACE"] == function.ns
    assert {k: shipped.env[k] for k in cfg.environment} == cfg.environment
    assert (shipped.env["_HANDLER"], shipped.env["AWS_LAMBDA_FUNCTION_TIMEOUT"]) == (cfg.handler, "30")

    event = sns_event()
    req = deliver(shipped, event)
    assert len(req.attempts) == 1
    inc = incident_of(req, kube, function.ns)
    alarm = inc["spec"]["alarm"]
    assert inc["spec"]["source"] == "alarm" and alarm["name"] == "EXAMPLE" and alarm["state"] == "ALARM"
    assert alarm["metric"]["name"] == "NetworkOut" and alarm["dimensions"] == {"InstanceId": "TestInstance"}
    assert json.loads(alarm["raw"]) == json.loads(event["Records"][0]["Sns"]["Message"])

    # the cold start: one init of the runtime, the zip imported from the (read-only) task root with the bytecode
    # it ships (without it, about 4 s of compiling here), well inside the timeout
    [init] = shipped.init_reports()
    assert init["phase"] == "init" and init["status"] == "success" and init["ms"] < cfg.timeout * 1000 / 3
    record_property("cold_start_ms", init["ms"])
    print(f"cold start {init['ms']:.0f} ms, first invocation {req.attempts[0].seconds * 1000:.0f} ms")

    # SNS delivers again: a warm start (no second init), recognised as the same transition
    again = deliver(shipped, event)
    assert again.outcome == "success" and again.attempts[0].payload["results"][0]["status"] == "duplicate"
    assert len(shipped.init_reports()) == 1
    assert "record.invalid" not in shipped.log() and "record.error" not in shipped.log()


def test_a_zip_missing_a_dependency_fails_in_the_runtime_and_lands_on_the_failure_queue(function, lambda_zip, aws, kube, tmp_path):
    broken = tmp_path / "bridge-lambda-without-pydantic.zip"
    with zipfile.ZipFile(lambda_zip) as src, zipfile.ZipFile(broken, "w", zipfile.ZIP_STORED) as dst:
        assert any(n.startswith("pydantic/") for n in src.namelist())
        for info in src.infolist():  # everything but pydantic (stored: deflating 100 MB again takes long)
            if not info.filename.startswith(("pydantic/", "pydantic-")):
                data, info = src.read(info), copy.copy(info)
                info.compress_type = zipfile.ZIP_STORED
                dst.writestr(info, data)
    sqs = aws.client("sqs")
    queue = sqs.create_queue(QueueName=f"bridge-failures-{function.ns}")["QueueUrl"]  # the template's FailureQueue
    before = kube.custom.list_namespaced_custom_object("netaiops.io", "v1alpha1", function.ns, "incidents")["items"]
    event = sns_event()
    with function.runtime(broken) as rt:
        req = deliver(rt, event, on_failure=sqs_destination(sqs, queue), retry_delays=SHORT_RETRIES)

    # the same check the shipped zip passes fails
    with pytest.raises(AssertionError, match="RetriesExhausted"):
        incident_of(req, kube, function.ns)
    # the runtime's own report, on each of the 1 + MaximumRetryAttempts attempts
    assert len(req.attempts) == 3
    for attempt in req.attempts:
        assert attempt.status_code == 502 and attempt.error["errorType"] == "Runtime.ImportModuleError"
        assert attempt.error["errorMessage"] == "Unable to import module 'bridge_lambda.handler': No module named 'pydantic'"
    # then the on-failure destination: Lambda's invocation record, which redrive() takes
    [msg] = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1)["Messages"]
    record = json.loads(msg["Body"])
    assert record["requestContext"]["condition"] == "RetriesExhausted" and record["requestContext"]["approximateInvokeCount"] == 3
    assert record["requestContext"]["functionArn"].endswith(":function:incident-bridge:$LATEST")
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert record["responsePayload"]["errorType"] == "Runtime.ImportModuleError"
    assert record["requestPayload"] == event and failed_event(msg["Body"]) == event
    after = kube.custom.list_namespaced_custom_object("netaiops.io", "v1alpha1", function.ns, "incidents")["items"]
    assert len(after) == len(before)


def test_a_hanging_api_server_ends_at_the_function_timeout(function, lambda_zip, tmp_path):
    """The timeout is what bounds a hanging API server (docs/aws.md): the invocation fails at Timeout and is
    retried. The template's own parameters, shortened: TimeoutSeconds=2, MaximumRetryAttempts=0."""
    with socket.socket() as hole:  # accepts connections (the kernel's backlog), never answers
        hole.bind(("127.0.0.1", 0))
        hole.listen(16)
        kc = yaml.safe_load(function.kubeconfig.read_text())
        kc["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{hole.getsockname()[1]}"
        hanging = tmp_path / "hanging.kubeconfig"
        hanging.write_text(yaml.safe_dump(kc))
        failures: list[dict] = []
        with function.runtime(lambda_zip, hanging, TimeoutSeconds="2", MaximumRetryAttempts="0") as rt:
            assert (rt.env["AWS_LAMBDA_FUNCTION_TIMEOUT"], rt.config.maximum_retry_attempts) == ("2", 0)
            started = time.monotonic()
            req = deliver(rt, sns_event(), on_failure=failures.append)
            took = time.monotonic() - started
    [attempt] = req.attempts
    assert req.outcome == "RetriesExhausted" and attempt.function_error == "Unhandled"
    assert attempt.payload == "Task timed out after 2.00 seconds" and 2 <= took < 10
    [record] = failures
    assert record["responsePayload"] == {"errorMessage": "Task timed out after 2.00 seconds"}
    assert record["requestContext"]["approximateInvokeCount"] == 1


def test_the_local_loop_hands_a_topic_notification_to_the_shipped_zip(shipped, function, aws, kube):
    """The wiring `make demo` uses: the alarm topic's subscription (local_stack.loop.BridgePump) invokes the
    function asynchronously; the notification published to the topic becomes an Incident."""
    from local_stack.aws import cloudwatch_message
    from local_stack.loop import BridgePump

    sns, sqs = aws.client("sns"), aws.client("sqs")
    topic = sns.create_topic(Name=f"alarms-{function.ns}")["TopicArn"]
    invoker = AsyncInvoker(shipped)
    pump = BridgePump(sns, sqs, topic, invoker)
    alarm = {"AlarmName": f"cpu-{function.ns}", "AlarmArn": f"arn:aws:cloudwatch:ap-northeast-2:123456789012:alarm:cpu-{function.ns}",
             "MetricName": "pod_cpu_utilization", "Namespace": "ContainerInsights", "Statistic": "Average",
             "Dimensions": [{"Name": "ClusterName", "Value": "demo"}, {"Name": "Namespace", "Value": function.ns},
                            {"Name": "PodName", "Value": "api"}],
             "Period": 60, "EvaluationPeriods": 3, "ComparisonOperator": "GreaterThanThreshold", "Threshold": 80}
    sns.publish(TopicArn=topic, Message=cloudwatch_message(alarm, "OK", "ALARM", "Threshold Crossed"))
    try:
        wait_for(lambda: pump.tick(), 10, "the notification on the subscription")
        assert pump.results[0]["StatusCode"] == 202  # accepted; SNS is done with it, Lambda owns the retries
        [req] = [invoker.wait(r["RequestId"], 60) for r in pump.results]
    finally:
        invoker.stop()
    inc = incident_of(req, kube, function.ns)
    assert inc["spec"]["target"] == {"namespace": function.ns, "cluster": "demo", "pod": "api"}
    assert inc["metadata"]["labels"]["netaiops.io/alarm"] == f"cpu-{function.ns}"


def test_async_invocation_follows_lambdas_retry_rules():
    """AsyncInvoker alone, on a stand-in environment: function errors are retried MaximumRetryAttempts times with
    the configured delays in order; system errors do not count as attempts and end at MaximumEventAgeInSeconds."""
    from local_stack.lambda_runtime import RETRY_DELAYS, Invocation

    assert RETRY_DELAYS == (60.0, 120.0)  # one minute, then two (invocation-async-error-handling)

    class Env:
        def __init__(self, answers, retries=2, max_age=21600):
            self.answers, self.calls = list(answers), []
            self.config = FunctionConfig("f", "python3.11", "h.h", 3, 128, {}, retries, max_age)

        def invoke(self, event, request_id):
            self.calls.append(time.monotonic())
            return self.answers.pop(0)(request_id)

    fail = lambda rid: Invocation(rid, 200, b'{"errorMessage": "boom", "errorType": "E"}', 0.0, "Unhandled")  # noqa: E731
    ok = lambda rid: Invocation(rid, 200, b'{"results": []}', 0.0)  # noqa: E731
    down = lambda rid: Invocation(rid, 0, b"", 0.0, system_error="ConnectionRefusedError")  # noqa: E731

    env = Env([fail, fail, fail])
    inv = AsyncInvoker(env, retry_delays=(0.05, 0.3))
    req = inv.wait(inv.invoke({"Records": []})["RequestId"], 10)
    inv.stop()
    assert req.outcome == "RetriesExhausted" and len(env.calls) == 3
    gaps = [b - a for a, b in zip(env.calls, env.calls[1:])]
    assert gaps[0] >= 0.05 and gaps[1] >= 0.3  # the first delay after the first attempt, the second after the second
    assert inv.failure_records[0]["responsePayload"] == {"errorMessage": "boom", "errorType": "E"}

    env = Env([fail, ok], retries=2)
    inv = AsyncInvoker(env, retry_delays=(0.01, 0.01))
    assert inv.wait(inv.invoke({})["RequestId"], 10).outcome == "success" and not inv.failure_records
    inv.stop()

    env = Env([fail], retries=0)
    inv = AsyncInvoker(env)
    assert inv.wait(inv.invoke({})["RequestId"], 10).outcome == "RetriesExhausted" and len(env.calls) == 1
    inv.stop()

    now = [1000.0]

    def down_for_31s(rid):
        now[0] += 31
        return down(rid)
    env = Env([down_for_31s, down_for_31s, ok], max_age=60)
    inv = AsyncInvoker(env, system_backoff=(0.01, 0.02), clock=lambda: now[0])
    req = inv.wait(inv.invoke({})["RequestId"], 10)
    inv.stop()
    # two system errors, 62 s: older than MaximumEventAgeInSeconds, given up before the third try
    assert req.outcome == "EventAgeExceeded" and len(env.calls) == 2
    assert inv.failure_records[0]["requestContext"]["condition"] == "EventAgeExceeded"
