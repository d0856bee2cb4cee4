"""A real node next to the local control plane: kubelet, containerd, runc, CNI bridge, local images.

  python3 -m local_stack.real_node build    install containerd/runc/iptables/busybox/stress-ng (Debian),
                                             build the CNI plugins (Go modules) and the images
  python3 -m local_stack.real_node up       start containerd and the kubelet; the Node `real-node` Ready
  python3 -m local_stack.real_node down     stop them and remove everything they created, only that
  python3 -m local_stack.real_node status   print whether it is up
  python3 -m local_stack.real_node snapshot print the host state `down` restores (JSON)

hack/local-cluster.sh calls it from its own build/up/down (LOCAL_CLUSTER_REAL_NODE=0 leaves it out).
The kubelet binary is built with the control plane (same Kubernetes module source and version).

What this machine needs that a normal host does not (../shared/notes/real-node.md):
- no CAP_SYS_RESOURCE: containerd's CRI plugin sets `restrict_oom_score_adj` (else every sandbox fails);
- the API server refuses loopback node addresses: the node IP is a private address on an empty bridge
  that only this host has, and the API server prefers InternalIP;
- no kubelet client certificate: the kubelet authenticates with a static token of user
  `system:node:real-node` (group system:nodes, bound to ClusterRole system:node) and serves the API server
  anonymously on the private address only;
- kwok manages only annotated nodes: this one is left alone; a taint and a label keep ordinary pods on
  the kwok nodes unless they tolerate `netaiops.io/real-node`.

`down` removes what `up` created and nothing else: `up` records the host's state first (mounts, network
links and namespaces, iptables rules, cgroups, the few directories the kubelet and containerd write outside
any directory they are given) and `down` takes away only the difference.

stdlib only: it runs before any virtualenv exists.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("INCIDENT_OPERATOR_CACHE", Path.home() / ".cache" / "incident-operator"))
CNI_VERSION = os.environ.get("CNI_PLUGINS_VERSION", "v1.6.2")
CNI_BIN = CACHE / "bin" / f"cni-plugins-{CNI_VERSION}"
IMAGES_DIR = CACHE / "images"
NODE_NAME = os.environ.get("LOCAL_CLUSTER_REAL_NODE_NAME", "real-node")
NODE_BRIDGE, NODE_IP = "inc-node0", os.environ.get("LOCAL_CLUSTER_REAL_NODE_IP", "10.86.0.1")
POD_BRIDGE, POD_SUBNET = "inc-cni0", os.environ.get("LOCAL_CLUSTER_REAL_NODE_POD_CIDR", "10.87.0.0/24")
TAINT_KEY = LABEL_KEY = "netaiops.io/real-node"
PACKAGES = {"containerd": "containerd", "runc": "runc", "iptables": "iptables", "busybox": "busybox-static",
            "stress-ng": "stress-ng", "gcc": "gcc", "ip": "iproute2"}
# Directories the kubelet, containerd and CNI write outside the directories they are given.
OUTSIDE_DIRS = ["/var/lib/kubelet", "/var/lib/cni", "/run/containerd", "/var/run/netns", "/run/netns",
                "/var/log/containers", "/var/log/pods", "/opt/containerd", "/etc/cni"]
CGROUP_ROOT = Path("/sys/fs/cgroup")


def log(msg: str) -> None:
    print(f"[real-node] {msg}", file=sys.stderr, flush=True)


def cluster_env() -> dict[str, str]:
    out = subprocess.run(["bash", str(ROOT / "hack" / "local-cluster.sh"), "env"], capture_output=True, text=True, check=True).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


class Paths:
    def __init__(self) -> None:
        env = cluster_env()
        self.bin = Path(env["LOCAL_CLUSTER_BIN"])
        self.cluster_state = Path(env["LOCAL_CLUSTER_STATE"])
        self.kubectl = env["KUBECTL"]
        self.admin_kubeconfig = env["KUBECONFIG"]
        self.state = self.cluster_state / "node"
        self.sock = self.state / "containerd.sock"
        self.kubelet_dir = self.state / "kubelet"
        self.logs = self.cluster_state / "logs"
        self.run = self.cluster_state / "run"
        self.baseline = self.cluster_state / "real-node-baseline.json"
        self.token_file = self.cluster_state / "pki" / "node-token"


def sh(*args: str, check: bool = True, capture: bool = True, **kw) -> str:
    res = subprocess.run(list(args), capture_output=capture, text=True, **kw)
    if check and res.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: exit {res.returncode}: {(res.stderr or '').strip()[:500]}")
    return res.stdout if capture else ""


# ---------------------------------------------------------------- build

def install_packages() -> None:
    missing = [pkg for tool, pkg in PACKAGES.items() if not shutil.which(tool)]
    if not missing:
        return
    log(f"installing Debian packages: {' '.join(missing)}")
    # Debian's containerd package would start the system containerd: a policy-rc.d that refuses keeps it off.
    policy = Path("/usr/sbin/policy-rc.d")
    had_policy = policy.exists()
    if not had_policy:
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
    try:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        if subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing], env=env,
                          capture_output=True).returncode != 0:
            sh("apt-get", "update", "-qq")
            sh("apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing, env=env)
    finally:
        if not had_policy:
            policy.unlink(missing_ok=True)


def build_cni() -> None:
    plugins = ["bridge", "host-local", "loopback"]
    if all((CNI_BIN / p).exists() for p in plugins):
        return
    log(f"building CNI plugins {CNI_VERSION} ({', '.join(plugins)})")
    CNI_BIN.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-buildvcs=false", "CGO_ENABLED": "0", "GOBIN": str(CNI_BIN),
           "GOMODCACHE": os.environ.get("GOMODCACHE", str(CACHE / "gomod")),
           "GOCACHE": os.environ.get("GOCACHE", str(CACHE / "gobuild"))}
    sh("go", "install", "-trimpath", "-ldflags", "-s -w",
       *[f"github.com/containernetworking/plugins/plugins/{'ipam' if p == 'host-local' else 'main'}/{p}@{CNI_VERSION}"
         for p in plugins], env=env, cwd=str(CACHE))


def build_images() -> list[Path]:
    sys.path.insert(0, str(ROOT))
    from local_stack import images  # noqa: PLC0415 - stdlib-only module, importable without the venv
    return images.build(IMAGES_DIR)


def cmd_build() -> None:
    install_packages()
    build_cni()
    for p in build_images():
        log(f"image {p.name}")


# ---------------------------------------------------------------- host state

def _mounts() -> list[str]:
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        points.append(line.split()[4].replace("\\040", " "))
    return points


def _links() -> list[str]:
    return sorted(link["ifname"] for link in json.loads(sh("ip", "-j", "link", "show") or "[]"))


def _iptables() -> dict[str, list[str]]:
    rules: dict[str, list[str]] = {}
    for tool in ("iptables", "ip6tables"):
        if not shutil.which(tool):
            continue
        for table in ("filter", "nat", "mangle"):
            out = subprocess.run([tool, "-w", "-t", table, "-S"], capture_output=True, text=True)
            if out.returncode == 0:
                rules[f"{tool}/{table}"] = out.stdout.splitlines()
    return rules


def _cgroups() -> list[str]:
    found = []
    if not CGROUP_ROOT.exists():
        return found
    for controller in sorted(CGROUP_ROOT.iterdir()):
        if not controller.is_dir():
            continue
        for dirpath, dirnames, _ in os.walk(controller):
            rel = os.path.relpath(dirpath, CGROUP_ROOT)
            if rel.count(os.sep) > 6:
                dirnames[:] = []
            found.append(rel)
    return sorted(found)


def _dir_entries() -> dict[str, list[str] | None]:
    return {d: (sorted(os.listdir(d)) if os.path.isdir(d) else None) for d in OUTSIDE_DIRS}


def processes(paths: Paths) -> list[str]:
    """Processes of the real node still running: kubelet, containerd, shims, and anything in kubepods."""
    found = []
    state = str(paths.state)
    for pid_dir in Path("/proc").iterdir():
        if not pid_dir.name.isdigit():
            continue
        try:
            cmd = (pid_dir / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
            cgroup = (pid_dir / "cgroup").read_text()
        except OSError:
            continue
        if state in cmd or "/kubepods" in cgroup:
            found.append(f"{pid_dir.name} {cmd[:120]}")
    return found


def snapshot(paths: Paths | None = None) -> dict:
    paths = paths or Paths()
    return {"mounts": _mounts(), "links": _links(), "iptables": _iptables(), "cgroups": _cgroups(),
            "dirs": _dir_entries(), "processes": processes(paths)}


# ---------------------------------------------------------------- up

CONTAINERD_CONFIG = """version = 2
root = "{root}"
state = "{state}"
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.aufs",
                    "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "{sock}"
[ttrpc]
  address = "{sock}.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "docker.io/local/pause:1"
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{cni_bin}"
    conf_dir = "{cni_conf}"
"""

KUBELET_CONFIG = """apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: {node_ip}
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {{enabled: true}}
  webhook: {{enabled: false}}
authorization: {{mode: AlwaysAllow}}
cgroupDriver: cgroupfs
failSwapOn: false
failCgroupV1: false
containerRuntimeEndpoint: unix://{sock}
podLogsDir: {pod_logs}
resolvConf: /etc/resolv.conf
serializeImagePulls: false
maxPods: 40
podPidsLimit: 1024
syncFrequency: 10s
fileCheckFrequency: 60s
nodeStatusUpdateFrequency: 5s
imageGCHighThresholdPercent: 99
imageGCLowThresholdPercent: 98
evictionHard: {{memory.available: 100Mi, nodefs.available: 2%, imagefs.available: 2%}}
evictionPressureTransitionPeriod: 10s
shutdownGracePeriod: 0s
registerWithTaints:
- {{key: {taint}, value: "true", effect: NoSchedule}}
"""

CNI_CONFLIST = {
    "cniVersion": "1.0.0", "name": "incident-local",
    "plugins": [{"type": "bridge", "bridge": POD_BRIDGE, "isGateway": True, "ipMasq": False, "hairpinMode": True,
                 "ipam": {"type": "host-local", "ranges": [[{"subnet": POD_SUBNET}]], "routes": [{"dst": "0.0.0.0/0"}]}}],
}


def _pid_alive(pid_file: Path) -> bool:
    try:
        os.kill(int(pid_file.read_text()), 0)
        return True
    except (OSError, ValueError):
        return False


def _start(paths: Paths, name: str, argv: list[str]) -> None:
    pid_file = paths.run / f"{name}.pid"
    if pid_file.exists() and _pid_alive(pid_file):
        return
    paths.run.mkdir(parents=True, exist_ok=True)
    paths.logs.mkdir(parents=True, exist_ok=True)
    with open(paths.logs / f"{name}.log", "ab") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    pid_file.write_text(str(proc.pid))


def _wait(what: str, seconds: float, check) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:  # noqa: BLE001 - keep waiting
            pass
        time.sleep(0.3)
    raise RuntimeError(f"timed out waiting for {what} (logs in .local/logs)")


def _kubectl(paths: Paths, *args: str, stdin: str | None = None, check: bool = True) -> str:
    return sh(paths.kubectl, "--kubeconfig", paths.admin_kubeconfig, *args, input=stdin, check=check)


def _node_kubeconfig(paths: Paths) -> Path:
    token = paths.token_file.read_text().strip()
    ca = paths.cluster_state / "pki" / "apiserver.crt"
    server = next(line.split("server:", 1)[1].strip() for line in Path(paths.admin_kubeconfig).read_text().splitlines()
                  if "server:" in line)
    path = paths.state / "kubelet.kubeconfig"
    path.write_text(f"""apiVersion: v1
kind: Config
clusters:
- name: local
  cluster: {{server: "{server}", certificate-authority: "{ca}"}}
users:
- name: {NODE_NAME}
  user: {{token: "{token}"}}
contexts:
- name: local
  context: {{cluster: local, user: {NODE_NAME}}}
current-context: local
""")
    path.chmod(0o600)
    return path


def _ensure_node_rbac(paths: Paths) -> None:
    _kubectl(paths, "apply", "-f", "-", stdin=f"""apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: local-real-node}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:node"}}
subjects:
- {{apiGroup: rbac.authorization.k8s.io, kind: User, name: "system:node:{NODE_NAME}"}}
""")


def _ensure_bridge() -> None:
    if subprocess.run(["ip", "link", "show", NODE_BRIDGE], capture_output=True).returncode != 0:
        sh("ip", "link", "add", NODE_BRIDGE, "type", "bridge")
    if NODE_IP not in sh("ip", "-4", "addr", "show", "dev", NODE_BRIDGE):
        sh("ip", "addr", "add", f"{NODE_IP}/32", "dev", NODE_BRIDGE)
    sh("ip", "link", "set", NODE_BRIDGE, "up")


def cmd_up() -> None:
    paths = Paths()
    if not paths.token_file.exists():
        raise SystemExit("real-node: the control plane is not up (no node token); run hack/local-cluster.sh up")
    if not paths.baseline.exists():
        paths.baseline.write_text(json.dumps(snapshot(paths)))
    for tool in PACKAGES:
        if not shutil.which(tool):
            cmd_build()
            break
    build_cni()
    tars = build_images()
    kubelet = paths.bin / "kubelet"
    if not kubelet.exists():
        raise SystemExit(f"real-node: {kubelet} missing (hack/local-cluster.sh build builds it)")
    for d in ("containerd/root", "containerd/state", "cni/net.d", "kubelet", "pod-logs"):
        (paths.state / d).mkdir(parents=True, exist_ok=True)
    (paths.state / "cni" / "net.d" / "10-incident-local.conflist").write_text(json.dumps(CNI_CONFLIST, indent=1))
    config = paths.state / "containerd.toml"
    config.write_text(CONTAINERD_CONFIG.format(root=paths.state / "containerd" / "root", state=paths.state / "containerd" / "state",
                                               sock=paths.sock, cni_bin=CNI_BIN, cni_conf=paths.state / "cni" / "net.d"))
    _ensure_bridge()
    _start(paths, "containerd", ["containerd", "--config", str(config)])
    _wait("containerd", 30, lambda: sh("ctr", "--address", str(paths.sock), "version") and True)
    for tar in tars:
        sh("ctr", "--address", str(paths.sock), "-n", "k8s.io", "images", "import", str(tar))
    _ensure_node_rbac(paths)
    kcfg = paths.state / "kubelet.yaml"
    kcfg.write_text(KUBELET_CONFIG.format(node_ip=NODE_IP, sock=paths.sock, pod_logs=paths.state / "pod-logs", taint=TAINT_KEY))
    _start(paths, "kubelet", [str(kubelet), "--config", str(kcfg), "--kubeconfig", str(_node_kubeconfig(paths)),
                              "--hostname-override", NODE_NAME, "--node-ip", NODE_IP, "--root-dir", str(paths.kubelet_dir),
                              "--cert-dir", str(paths.state / "kubelet-pki"), "--node-labels", f"{LABEL_KEY}=true",
                              "--containerd", f"unix://{paths.sock}", "--v", "1"])
    _wait(f"node {NODE_NAME} Ready", 90, lambda: "True" == _kubectl(
        paths, "get", "node", NODE_NAME, "-o", "jsonpath={.status.conditions[?(@.type=='Ready')].status}", check=False).strip())
    log(f"node {NODE_NAME} Ready at {NODE_IP} (containerd {paths.sock})")


# ---------------------------------------------------------------- down

def _stop(paths: Paths, name: str, timeout: float = 10) -> None:
    pid_file = paths.run / f"{name}.pid"
    if not pid_file.exists():
        return
    try:
        pid = int(pid_file.read_text())
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            os.kill(pid, 0)
            time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)
    except (OSError, ValueError):
        pass
    pid_file.unlink(missing_ok=True)


def _kill_leftovers(paths: Paths) -> None:
    """Shims started for our containerd and every process in the kubepods cgroups, until none is left."""
    for _ in range(50):
        left = []
        for entry in processes(paths):
            pid = int(entry.split()[0])
            if pid == os.getpid():
                continue
            left.append(pid)
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        if not left:
            return
        time.sleep(0.1)
    log(f"processes still running: {processes(paths)}")


def _unmount_new(paths: Paths, base: dict) -> None:
    before = set(base.get("mounts", []))
    watched = [str(paths.state), *OUTSIDE_DIRS]
    for _ in range(5):
        new = [m for m in _mounts() if m not in before and any(m == w or m.startswith(w.rstrip("/") + "/") for w in watched)]
        if not new:
            return
        for m in sorted(set(new), key=len, reverse=True):
            subprocess.run(["umount", "-l", m], capture_output=True)


def _restore_iptables(base: dict) -> None:
    before = base.get("iptables", {})
    for key, rules in _iptables().items():
        tool, table = key.split("/")
        old = set(before.get(key, []))
        new = [r for r in rules if r not in old]
        for rule in new:          # rules first (they may jump to new chains), then the chains
            if rule.startswith("-A "):
                subprocess.run([tool, "-w", "-t", table, "-D", *rule.split()[1:]], capture_output=True)
        for rule in new:
            if rule.startswith("-N "):
                subprocess.run([tool, "-w", "-t", table, "-F", rule.split()[1]], capture_output=True)
                subprocess.run([tool, "-w", "-t", table, "-X", rule.split()[1]], capture_output=True)


def new_cgroups(base: dict, now: list[str]) -> list[str]:
    """Cgroups the node made: new trees beside the ones there before it started (the kubelet's `kubepods` under
    each controller). Inside a tree that was there already, cgroups come and go with the machine's other
    processes (a job runner's per-job cgroups): not ours to judge or remove."""
    before = set(base.get("cgroups", []))
    return sorted(c for c in now if c not in before and "/".join(c.split(os.sep)[:2]) not in before)


def _remove_new_cgroups(base: dict) -> None:
    for rel in sorted(new_cgroups(base, _cgroups()), key=lambda c: c.count(os.sep), reverse=True):
        try:
            os.rmdir(CGROUP_ROOT / rel)
        except OSError:
            pass


def _remove_new_entries(base: dict) -> None:
    for d, entries in base.get("dirs", {}).items():
        if not os.path.isdir(d):
            continue
        if entries is None:
            shutil.rmtree(d, ignore_errors=True)
            continue
        for name in set(os.listdir(d)) - set(entries):
            p = os.path.join(d, name)
            if os.path.islink(p) or not os.path.isdir(p):
                os.unlink(p)
            else:
                shutil.rmtree(p, ignore_errors=True)


def cmd_down() -> None:
    paths = Paths()
    if not paths.baseline.exists() and not paths.state.exists():
        return
    base = json.loads(paths.baseline.read_text()) if paths.baseline.exists() else {}
    _stop(paths, "kubelet")
    _stop(paths, "containerd", timeout=5)
    _kill_leftovers(paths)
    _unmount_new(paths, base)
    for link in set(_links()) - set(base.get("links", [])):
        subprocess.run(["ip", "link", "delete", link], capture_output=True)
    _restore_iptables(base)
    _remove_new_cgroups(base)
    _remove_new_entries(base)
    shutil.rmtree(paths.state, ignore_errors=True)
    paths.baseline.unlink(missing_ok=True)
    log("down")


def cmd_status() -> int:
    paths = Paths()
    up = all((paths.run / f"{n}.pid").exists() and _pid_alive(paths.run / f"{n}.pid") for n in ("containerd", "kubelet"))
    print(f"real-node: {'running' if up else 'stopped'}")
    return 0 if up else 1


def main(argv: list[str]) -> int:
    cmd = argv[1] if len(argv) > 1 else ""
    if cmd == "build":
        cmd_build()
    elif cmd == "up":
        cmd_up()
    elif cmd == "down":
        cmd_down()
    elif cmd == "status":
        return cmd_status()
    elif cmd == "snapshot":
        print(json.dumps(snapshot(), indent=1))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
