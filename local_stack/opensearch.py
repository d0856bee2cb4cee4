"""A real OpenSearch node for the tests, built from Maven Central artifacts (local_stack/opensearch-node/pom.xml)
into ~/.cache/incident-operator and run as a JVM process on 127.0.0.1."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import requests

from .aws import free_port
from .cluster import ROOT

SOURCE = ROOT / "local_stack" / "opensearch-node"
CACHE = Path(os.environ.get("INCIDENT_OPERATOR_CACHE", Path.home() / ".cache" / "incident-operator"))


def build() -> Path:
    """Compile the launcher and gather its jars once per pom/source version."""
    files = [SOURCE / "pom.xml", *sorted((SOURCE / "src").rglob("*.java"))]
    key = hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()[:12]
    out = CACHE / f"opensearch-node-{key}"
    if (out / "target" / "dependency").is_dir() and (out / "target" / "classes").is_dir():
        return out
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(SOURCE, out, ignore=shutil.ignore_patterns("target"))
    subprocess.run(["mvn", "-q", "-B", "-f", str(out / "pom.xml"), "package", "-DskipTests"], check=True)
    return out


class LocalOpenSearch:
    def __init__(self) -> None:
        built = build()
        self.home = Path(tempfile.mkdtemp(prefix="opensearch-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        classpath = f"{built / 'target' / 'classes'}:{built / 'target' / 'dependency'}/*"
        self.log = open(self.home / "node.log", "wb")
        self.proc = subprocess.Popen(
            # C1 only (TieredStopAtLevel=1): starts ~1 s sooner on 2 cores; the tests' few queries never need C2
            ["java", "-Xms256m", "-Xmx512m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-cp", classpath,
             "dev.netaiops.opensearch.LocalOpenSearch", str(self.home), str(self.port), str(free_port())],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"OpenSearch exited: {(self.home / 'node.log').read_text()[-2000:]}")
            try:
                if requests.get(f"{self.url}/_cluster/health?wait_for_status=yellow&timeout=1s", timeout=3).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.5)
        raise RuntimeError("OpenSearch did not become ready in 120 s")

    def bulk(self, index: str, docs: list[dict]) -> None:
        import json
        lines = "".join(json.dumps({"index": {"_index": index}}) + "\n" + json.dumps(d) + "\n" for d in docs)
        r = requests.post(f"{self.url}/_bulk?refresh=true", data=lines.encode(),
                          headers={"Content-Type": "application/x-ndjson"}, timeout=60)
        r.raise_for_status()
        assert not r.json()["errors"], r.text[:500]

    def stop(self) -> None:
        # its data is thrown away below: nothing for a graceful JVM shutdown (which may take its time) to keep
        self.proc.kill()
        self.proc.wait(30)
        self.log.close()
        shutil.rmtree(self.home, ignore_errors=True)
