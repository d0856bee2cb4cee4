"""Configuration: one validated model from env, ConfigMap (as env) and SSM, with clear errors."""

from __future__ import annotations

import subprocess
import sys

import pytest
from pydantic import ValidationError

from incident_operator.settings import Settings, load_settings


def test_environment_values_are_validated(monkeypatch):
    monkeypatch.setenv("INCIDENT_MAX_ATTEMPTS", "0")
    monkeypatch.setenv("INCIDENT_GITHUB_REPO", "not a repo")
    with pytest.raises(ValidationError) as err:
        Settings()
    text = str(err.value)
    assert "max_attempts" in text and "INCIDENT_GITHUB_REPO" in text and "not a repo" in text


def test_kube_system_is_always_protected(monkeypatch):
    monkeypatch.setenv("INCIDENT_PROTECTED_NAMESPACES", '["payments"]')
    assert Settings().protected_namespaces == ["kube-system", "payments"]


def test_ssm_fills_what_the_environment_does_not_set(aws, monkeypatch):
    ssm = aws.client("ssm")
    ssm.put_parameter(Name="/app/incident/github_token", Value="ghp_fromssm000000000000000000000", Type="SecureString", Overwrite=True)
    ssm.put_parameter(Name="/app/incident/github_repo", Value="acme/from-ssm", Type="String", Overwrite=True)
    ssm.put_parameter(Name="/app/incident/max_attempts", Value="7", Type="String", Overwrite=True)
    ssm.put_parameter(Name="/app/incident/unrelated", Value="x", Type="String", Overwrite=True)
    monkeypatch.setenv("INCIDENT_SSM_PREFIX", "/app/incident/")
    monkeypatch.setenv("INCIDENT_MAX_ATTEMPTS", "3")  # the environment wins
    s = load_settings(ssm_client=ssm)
    assert s.github_repo == "acme/from-ssm" and s.github_token.get_secret_value().startswith("ghp_fromssm")
    assert s.max_attempts == 3
    assert "ghp_fromssm" not in repr(s)


def test_operator_refuses_to_start_on_bad_configuration():
    out = subprocess.run([sys.executable, "-m", "incident_operator.cli", "run"], capture_output=True, text=True,
                         env={"INCIDENT_MAX_ATTEMPTS": "many", "PATH": "/usr/bin:/bin"}, timeout=60)
    assert out.returncode == 2 and "invalid configuration" in out.stderr and "max_attempts" in out.stderr
