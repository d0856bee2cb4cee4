"""The container image's pieces (there is no Docker engine here to build it)."""

from __future__ import annotations

import re
import subprocess
import sys

from .support.cluster import ROOT

DOCKERFILE = (ROOT / "Dockerfile").read_text()


def test_dockerfile_is_multi_stage_pinned_and_non_root():
    assert len(re.findall(r"^FROM ", DOCKERFILE, re.M)) == 2
    assert re.search(r"ARG PYTHON_IMAGE=python:\d+\.\d+\.\d+-slim-\w+", DOCKERFILE)  # pinned to a patch release
    user = re.findall(r"^USER (\S+)", DOCKERFILE, re.M)
    assert user and user[-1].split(":")[0].isdigit() and user[-1].split(":")[0] != "0"
    assert 'ENTRYPOINT ["incident-operator"]' in DOCKERFILE


def test_the_entrypoint_it_runs_exists_and_answers():
    for args in (["--help"], ["run", "--help"], ["mcp", "--help"], ["agent-runtime", "--help"]):
        out = subprocess.run([sys.executable, "-m", "incident_operator.cli", *args], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
    cmd = re.search(r"^CMD (.+)$", DOCKERFILE, re.M).group(1)
    assert '"run"' in cmd and "--liveness" in cmd
