"""Container images for the real node, built locally (no registry is reachable here).

Each image is an OCI image layout tar (one uncompressed layer, a config, a manifest, index.json,
oci-layout) that `ctr -n k8s.io images import` loads into containerd. The CRI looks images up by their
normalised name, so each is named `docker.io/local/NAME:TAG` (`local/NAME:TAG` in a pod spec).

Builds are reproducible: files are taken from Debian packages installed on this machine (busybox-static,
stress-ng) or compiled here (the sandbox's pause program), every tar entry has mtime 0 and uid/gid 0,
entries are sorted, and the image's tar is cached under the key of its inputs' bytes.

  python3 -m local_stack.images build OUT_DIR     build (or reuse) every image, print the tar paths

stdlib only: hack/real-node.sh runs this before any virtualenv exists.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

REGISTRY_PREFIX = "docker.io/local/"
PAUSE = "pause:1"
BUSYBOX = "busybox:1"
STRESS = "stress-ng:1"
WEB = "web:1"

# The sandbox ("pause") process: sleep until SIGTERM/SIGINT, reap children (it is PID 1 of the pod).
PAUSE_C = r"""
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
static void stop(int s) { (void)s; _exit(0); }
static void reap(int s) { (void)s; while (waitpid(-1, NULL, WNOHANG) > 0) {} }
int main(void) {
  signal(SIGINT, stop); signal(SIGTERM, stop); signal(SIGCHLD, reap);
  for (;;) pause();
  return 0;
}
"""

# An HTTP service with liveness and readiness endpoints: busybox httpd serves /www; /healthz and
# /ready are files, so a test can break either by removing it inside the container (`rm /www/ready`).
WEB_ENTRYPOINT = """#!/bin/sh
mkdir -p /www
echo ok > /www/healthz
echo ok > /www/ready
echo "<h1>${APP_NAME:-web}</h1>" > /www/index.html
echo "web: listening on :${PORT:-8080}"
exec httpd -f -v -p "${PORT:-8080}" -h /www
"""


@dataclass
class Image:
    name: str                       # NAME:TAG under docker.io/local/
    files: dict[str, bytes | str] = field(default_factory=dict)   # path in image -> bytes, or a host path to copy
    links: dict[str, str] = field(default_factory=dict)           # path -> symlink target
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    env: list[str] = field(default_factory=lambda: ["PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"])
    executable: set[str] = field(default_factory=set)

    @property
    def ref(self) -> str:
        return REGISTRY_PREFIX + self.name


def _read(src: bytes | str) -> bytes:
    return src if isinstance(src, bytes) else Path(src).read_bytes()


def _layer(image: Image) -> bytes:
    entries: dict[str, tuple[str, bytes | str | None]] = {}
    for path in list(image.files) + list(image.links):
        parts = path.strip("/").split("/")
        for i in range(1, len(parts)):
            entries.setdefault("/".join(parts[:i]), ("dir", None))
    for path, src in image.files.items():
        entries[path.strip("/")] = ("file", src)
    for path, target in image.links.items():
        entries[path.strip("/")] = ("link", target)
    for d in ("tmp", "proc", "sys", "dev", "etc", "var/run", "run"):
        entries.setdefault(d, ("dir", None))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(entries):
            kind, src = entries[path]
            info = tarfile.TarInfo(path)
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            if kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, 0o1777 if path == "tmp" else 0o755
                tar.addfile(info)
            elif kind == "link":
                info.type, info.linkname, info.mode = tarfile.SYMTYPE, str(src), 0o777
                tar.addfile(info)
            else:
                data = _read(src)  # type: ignore[arg-type]
                info.size = len(data)
                exe = "/" + path in image.executable or (isinstance(src, str) and os.access(src, os.X_OK))
                info.mode = 0o755 if exe else 0o644
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _blob(tar: tarfile.TarFile, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    info = tarfile.TarInfo(f"blobs/sha256/{digest}")
    info.size, info.mtime, info.mode = len(data), 0, 0o644
    tar.addfile(info, io.BytesIO(data))
    return f"sha256:{digest}"


def oci_archive(image: Image) -> bytes:
    """The image as an OCI image layout tar, byte-for-byte the same for the same inputs."""
    layer = _layer(image)
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = {"architecture": "amd64", "os": "linux", "created": "1970-01-01T00:00:00Z",
              "config": {k: v for k, v in (("Entrypoint", image.entrypoint), ("Cmd", image.cmd), ("Env", image.env)) if v},
              "rootfs": {"type": "layers", "diff_ids": [diff_id]},
              "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "local_stack.images"}]}
    raw_config = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        config_digest = _blob(tar, raw_config)
        layer_digest = _blob(tar, layer)
        manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": len(raw_config)},
                    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": len(layer)}]}
        raw_manifest = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
        manifest_digest = _blob(tar, raw_manifest)
        index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                 "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest,
                                "size": len(raw_manifest),
                                "annotations": {"io.containerd.image.name": image.ref,
                                                "org.opencontainers.image.ref.name": image.name.split(":")[1]}}]}
        for name, data in (("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'),
                           ("index.json", json.dumps(index, sort_keys=True).encode())):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _shared_libs(binary: str) -> dict[str, str]:
    """The dynamic libraries `binary` loads (ldd), each at its path on this machine."""
    out = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
    libs: dict[str, str] = {}
    for line in out.splitlines():
        parts = line.split()
        path = parts[2] if "=>" in parts and len(parts) > 2 else parts[0]
        if path.startswith("/"):
            real = os.path.realpath(path)
            libs[path] = real
    return libs


def _busybox_files() -> tuple[dict[str, bytes | str], dict[str, str]]:
    busybox = shutil.which("busybox") or "/bin/busybox"
    applets = subprocess.run([busybox, "--list-full"], capture_output=True, text=True, check=True).stdout.split()
    links = {"/" + a: "/bin/busybox" for a in applets if a != "bin/busybox"}
    files: dict[str, bytes | str] = {"/bin/busybox": busybox,
                                     "/etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
                                     "/etc/group": "root:x:0:\nnogroup:x:65534:\n"}
    files = {k: (v.encode() if isinstance(v, str) and not v.startswith("/") else v) for k, v in files.items()}
    return files, links


def _pause_binary(workdir: Path) -> bytes:
    src = workdir / "pause.c"
    src.write_text(PAUSE_C)
    out = workdir / "pause"
    subprocess.run(["gcc", "-Os", "-static", "-s", "-o", str(out), str(src)], check=True)
    return out.read_bytes()


def images(workdir: Path) -> list[Image]:
    bb_files, bb_links = _busybox_files()
    stress = shutil.which("stress-ng") or "/usr/bin/stress-ng"
    stress_files: dict[str, bytes | str] = {**bb_files, "/usr/bin/stress-ng": stress}
    for path, real in _shared_libs(stress).items():
        stress_files[path] = real
    return [
        Image(PAUSE, files={"/pause": _pause_binary(workdir)}, entrypoint=["/pause"], executable={"/pause"}),
        Image(BUSYBOX, files=bb_files, links=bb_links, cmd=["sh"]),
        Image(STRESS, files=stress_files, links=bb_links, entrypoint=["stress-ng"]),
        Image(WEB, files={**bb_files, "/web.sh": WEB_ENTRYPOINT.encode()}, links=bb_links,
              entrypoint=["/web.sh"], executable={"/web.sh"}),
    ]


def build(out_dir: Path) -> list[Path]:
    """Build every image (reusing a tar whose inputs did not change); return the tar paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    with tempfile.TemporaryDirectory() as tmp:
        for image in images(Path(tmp)):
            data = oci_archive(image)
            key = hashlib.sha256(data).hexdigest()[:16]
            path = out_dir / f"{image.name.replace(':', '-')}-{key}.tar"
            if not path.exists():
                tmp_path = path.with_suffix(".tmp")
                tmp_path.write_bytes(data)
                tmp_path.rename(path)
            paths.append(path)
    return paths


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "build":
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    for p in build(Path(sys.argv[2])):
        print(p)
