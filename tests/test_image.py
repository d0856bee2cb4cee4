"""The container image's pieces (there is no Docker engine here to build it)."""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from local_stack.cluster import ROOT

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


# --- the image's dependency set: requirements/image.lock, installed alone into a clean venv -----------------

LOCK = ROOT / "requirements" / "image.lock"


def test_the_image_installs_the_lock_file_then_the_package_without_resolving_again():
    build = DOCKERFILE.split("\nFROM ")[1]
    assert "pip install --require-hashes --no-deps -r requirements/image.lock" in build
    assert re.search(r"pip install --no-deps \.( |\n|$)", build) and "pip check" in build
    assert "COPY requirements/image.lock" in build


def _pins() -> dict[str, str]:
    from packaging.utils import canonicalize_name
    pins = {}
    for line in LOCK.read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s;\\]+)", line)
        if m:
            pins[canonicalize_name(m.group(1))] = m.group(2)
    return pins


def test_the_lock_file_pins_every_runtime_dependency_with_hashes():
    import tomllib

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + [r for extra in ("aws", "github", "agent", "anthropic", "openai")
                                        for r in project["optional-dependencies"][extra]]
    pins = _pins()
    for spec in wanted:
        req = Requirement(spec)
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is not in requirements/image.lock: run `make lock`"
        assert req.specifier.contains(pins[name], prereleases=True), \
            f"requirements/image.lock pins {req.name}=={pins[name]}, pyproject.toml wants {req.specifier}: run `make lock`"
    blocks = re.split(r"\n(?=\S)", LOCK.read_text().strip())
    assert all("--hash=sha256:" in b for b in blocks if "==" in b)


def image_venv() -> Path:
    """A venv holding exactly the lock file's packages, built once per lock file (keyed by its hash)."""
    key = hashlib.sha256(LOCK.read_bytes()).hexdigest()[:16]
    home = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "incident-operator" / "image-venv"
    venv = home / key
    home.mkdir(parents=True, exist_ok=True)
    with open(home / f"{key}.lock", "w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)  # another test run building the same venv: wait for it
        if not (venv / ".complete").exists():
            shutil.rmtree(venv, ignore_errors=True)
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                            "--require-hashes", "--no-deps", "-r", str(LOCK)], check=True, timeout=900)
            (venv / ".complete").write_text(key)
    return venv


def _in_image(venv: Path, *args: str, env: dict[str, str] | None = None, **kw) -> subprocess.CompletedProcess:
    """`incident-operator ARGS` with the image's packages only (the project's source on the path, as `pip install
    --no-deps .` puts it there; nothing from the test environment)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("INCIDENT_", "GITHUB_", "DD_", "AWS_", "PYTHON"))}
    return subprocess.run([str(venv / "bin" / "python"), *args], capture_output=True, text=True, timeout=120,
                          env={**clean, "PYTHONPATH": f"{ROOT / 'operator'}{os.pathsep}{ROOT}", **(env or {})}, **kw)


@pytest.fixture(scope="module")
def image() -> Path:
    return image_venv()


def test_image_packages_are_consistent_and_every_feature_works(image):
    out = subprocess.run([str(image / "bin" / "python"), "-m", "pip", "check"], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout
    version = _in_image(image, "-m", "incident_operator.cli", "--version")
    assert version.returncode == 0 and version.stdout.startswith("incident-operator "), version.stderr
    helped = _in_image(image, "-m", "incident_operator.cli", "mcp", "--help")
    assert helped.returncode == 0, helped.stderr
    checked = _in_image(image, "-m", "incident_operator.cli", "check", env={
        "INCIDENT_LLM_ENABLED": "true", "AWS_REGION": "ap-northeast-2", "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "x", "INCIDENT_GITHUB_REPO": "acme/ops", "INCIDENT_GITHUB_TOKEN": "ghp_x",
        "INCIDENT_OPENSEARCH_URL": "https://logs.example", "INCIDENT_CLUSTER_NAME": "demo"})
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "BROKEN" not in checked.stdout


def test_image_serves_the_tools_over_mcp(image):
    from mcp.client.session import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    from incident_operator.tools import default_registry

    clean = {k: v for k, v in os.environ.items() if not k.startswith(("INCIDENT_", "GITHUB_", "DD_", "AWS_", "PYTHON"))}
    params = StdioServerParameters(command=str(image / "bin" / "python"), args=["-m", "incident_operator.cli", "mcp"],
                                   env={**clean, "PYTHONPATH": f"{ROOT / 'operator'}{os.pathsep}{ROOT}"})

    async def names() -> set[str]:
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                return {t.name for t in (await session.list_tools()).tools}

    assert asyncio.run(asyncio.wait_for(names(), 90)) == {t.name for t in default_registry()}


DIAGNOSE = """
import json, sys
from incident_operator.agent.engine import LlmDiagnoser
from incident_operator.analyzers import analyze
from incident_operator.models.evidence import EvidenceBundle
from incident_operator.settings import Settings
from incident_operator.tools import ToolDeps

bundle = EvidenceBundle.model_validate_json(sys.stdin.read())
settings = Settings(llm_enabled=True, llm_endpoint_url=sys.argv[1], llm_region="us-east-1",
                    llm_retry_initial_delay_seconds=1, llm_deadline_seconds=60)
out = LlmDiagnoser(ToolDeps(settings), ToolDeps(Settings()).registry).diagnose(bundle, analyze(bundle), [])
d = out.diagnosis
print(json.dumps({"error": out.error, "engine": d and d.engine, "top": d and d.causes[0].kind,
                  "title": d and d.causes[0].title, "output_tokens": out.output_tokens}))
"""


def test_image_diagnoses_with_the_llm(image, bedrock):
    from datetime import datetime, timedelta, timezone

    from incident_operator.models.evidence import EvidenceBundle, TimeWindow

    from local_stack.bedrock_server import answer, call_tool
    from .test_agent import diagnosis

    now = datetime.now(timezone.utc)
    bundle = EvidenceBundle(incident="shop/api-slow", window=TimeWindow(start=now - timedelta(minutes=30), end=now, anchor=now))
    bedrock.play(call_tool("current_time", {}), answer(diagnosis("slow-dependency", "api", "shop")))
    out = _in_image(image, "-c", DIAGNOSE, bedrock.url, input=bundle.model_dump_json(by_alias=True),
                    env={"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "x", "AWS_EC2_METADATA_DISABLED": "true"})
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["error"] is None and result["engine"] == "llm", result  # not the rules' fallback
    assert result["top"] == "slow-dependency" and result["title"] == "`api` 원인 (모델 판단)"
    assert result["output_tokens"] == bedrock.output_tokens > 0
    assert len(bedrock.bodies) == 2  # the tool loop ran: a tool call, then the answer
