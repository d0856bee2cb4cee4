"""Start-up checks: a configured feature that cannot work is said out loud, at start-up and by `incident-operator check`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
import requests

from local_stack.aws import free_port
from local_stack.cluster import ROOT, wait_for

# no AWS anything from the machine running the tests
NO_AWS = {"AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_EC2_METADATA_DISABLED": "true",
          "AWS_REGION": "", "AWS_DEFAULT_REGION": "", "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}
CREDS = {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_REGION": "ap-northeast-2"}


def check(env: dict[str, str], hide: tuple[str, ...] = ()) -> tuple[int, dict[str, tuple[str, str]]]:
    """`incident-operator check` with `env`; `hide`: modules made unimportable, as in an image built without them."""
    code = ("import sys\n" + "".join(f"sys.modules[{m!r}] = None\n" for m in hide)
            + "from incident_operator.cli import main\nsys.exit(main(['check']))")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("INCIDENT_", "GITHUB_", "DD_", "AWS_"))}
    out = subprocess.run([sys.executable, "-c", code], env={**clean, **NO_AWS, **env}, capture_output=True, text=True,
                         timeout=60, cwd=ROOT)
    rows = {}
    for line in out.stdout.splitlines():
        feature, state, detail = line.split(None, 2)
        rows[feature] = (state, detail)
    return out.returncode, rows


def test_nothing_configured_is_fine():
    code, rows = check({})
    assert code == 0
    assert {f: s for f, (s, _) in rows.items()} == {"llm": "OFF", "github": "OFF", "cloudwatch": "OFF", "opensearch": "OFF",
                                                   "datadog": "OFF", "mcp": "OK"}


def test_configured_features_without_their_token_region_or_credentials_are_reported():
    code, rows = check({"INCIDENT_LLM_ENABLED": "true", "INCIDENT_GITHUB_REPO": "acme/ops", "INCIDENT_CLUSTER_NAME": "demo",
                        "INCIDENT_DD_API_KEY": "k"})
    assert code == 1
    assert rows["llm"] == ("BROKEN", "no AWS region (INCIDENT_AWS_REGION / AWS_REGION): every diagnosis falls back to the rules")
    assert rows["github"] == ("BROKEN", "INCIDENT_GITHUB_TOKEN not set: reports go to the cluster instead")
    assert rows["cloudwatch"][0] == "BROKEN" and "INCIDENT_AWS_REGION" in rows["cloudwatch"][1]
    assert rows["datadog"] == ("BROKEN", "Datadog needs both DD_API_KEY and DD_APP_KEY")

    code, rows = check({"INCIDENT_LLM_ENABLED": "true", "AWS_REGION": "us-east-1"})
    assert code == 1 and rows["llm"][0] == "BROKEN" and rows["llm"][1].startswith("no AWS credentials")


def test_missing_libraries_name_the_extra_to_install():
    code, rows = check({**CREDS, "INCIDENT_LLM_ENABLED": "true", "INCIDENT_GITHUB_REPO": "acme/ops",
                        "INCIDENT_GITHUB_TOKEN": "ghp_x", "INCIDENT_OPENSEARCH_URL": "https://logs.example"},
                       hide=("strands", "github", "opensearchpy", "mcp"))
    assert code == 1
    # the model provider's own check (agent/providers.py) says which module is missing and which extra brings it
    assert rows["llm"][0] == "BROKEN" and "strands" in rows["llm"][1] and "incident-operator[agent]" in rows["llm"][1]
    assert rows["github"][0] == "BROKEN" and "incident-operator[github]" in rows["github"][1]
    assert rows["opensearch"][0] == "BROKEN" and "incident-operator[aws]" in rows["opensearch"][1]
    assert rows["mcp"][0] == "BROKEN" and "`incident-operator mcp` cannot start" in rows["mcp"][1]


def test_everything_configured_and_installed_is_ok():
    code, rows = check({**CREDS, "INCIDENT_LLM_ENABLED": "true", "INCIDENT_GITHUB_REPO": "acme/ops",
                        "INCIDENT_GITHUB_TOKEN": "ghp_x", "INCIDENT_OPENSEARCH_URL": "https://logs.example",
                        "INCIDENT_CLUSTER_NAME": "demo", "DD_API_KEY": "a", "DD_APP_KEY": "b"})
    assert code == 0, rows
    assert {s for s, _ in rows.values()} == {"OK"}
    assert rows["llm"][1] == "Bedrock global.anthropic.claude-opus-4-6-v1 in ap-northeast-2"


def test_a_busy_metrics_port_stops_the_start_with_the_reason():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = subprocess.run([sys.executable, "-m", "incident_operator.cli", "run", "--standalone"],
                             env={**os.environ, "INCIDENT_METRICS_PORT": str(port), "INCIDENT_METRICS_BIND_ADDRESS": "127.0.0.1",
                                  "KUBECONFIG": "/nonexistent"}, capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 2
    assert f"cannot serve metrics on 127.0.0.1:{port}" in out.stderr and "INCIDENT_METRICS_PORT" in out.stderr


@pytest.mark.cluster
def test_operator_warns_at_start_up_and_exports_the_feature_gauge(start_operator):
    port = free_port()
    op = start_operator({**NO_AWS, "INCIDENT_METRICS_PORT": str(port), "INCIDENT_METRICS_BIND_ADDRESS": "127.0.0.1",
                         "INCIDENT_LLM_ENABLED": "true", "INCIDENT_GITHUB_REPO": "acme/ops", "INCIDENT_GITHUB_TOKEN": "",
                         "GITHUB_TOKEN": ""})
    text = wait_for(lambda: (lambda t: t if 'incident_operator_feature_ready{feature="mcp"}' in t else None)(
        _get(f"http://127.0.0.1:{port}/metrics")), 60, "the feature gauge")
    assert 'incident_operator_feature_ready{feature="llm"} 0.0' in text
    assert 'incident_operator_feature_ready{feature="github"} 0.0' in text
    assert 'incident_operator_feature_ready{feature="mcp"} 1.0' in text
    log = op.log()
    assert "feature llm is configured but cannot work: no AWS region" in log
    assert "feature github is configured but cannot work: INCIDENT_GITHUB_TOKEN not set" in log
    assert op.proc.poll() is None  # a warning, not a stop


def _get(url: str) -> str:
    try:
        return requests.get(url, timeout=5).text
    except requests.ConnectionError:  # not listening yet
        return ""
