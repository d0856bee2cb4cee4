#!/usr/bin/env bash
# A real local Kubernetes control plane, built from Go modules and run as plain processes.
#
#   hack/local-cluster.sh build    build (once) kube-apiserver, kube-controller-manager,
#                                  kube-scheduler, kubectl, kubelet, etcd and kwok into the cache,
#                                  and the real node's parts (local_stack/real_node.py build)
#   hack/local-cluster.sh up       start etcd, apiserver, controller-manager, scheduler and kwok
#                                  on 127.0.0.1, write .local/kubeconfig, wait for /readyz; then the
#                                  real node (kubelet + containerd, Node `real-node`) beside the kwok nodes
#   hack/local-cluster.sh down     stop them and remove the cluster's data (the real node's too)
#
# LOCAL_CLUSTER_REAL_NODE=0 leaves the real node out (kwok nodes only).
#   hack/local-cluster.sh status   print whether it is up
#   hack/local-cluster.sh env      print the paths (for scripts)
#
# Versions are pinned below; built binaries live in $INCIDENT_OPERATOR_CACHE (default
# ~/.cache/incident-operator), keyed by version, so only the first run pays for the build.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.34.4}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.4}"
KWOK_VERSION="${KWOK_VERSION:-v0.8.0}"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${INCIDENT_OPERATOR_CACHE:-$HOME/.cache/incident-operator}"
BIN="$CACHE/bin/k8s-$K8S_VERSION-etcd-$ETCD_VERSION-kwok-$KWOK_VERSION"
STATE="${LOCAL_CLUSTER_DIR:-$ROOT/.local}"
API_PORT="${LOCAL_CLUSTER_API_PORT:-6443}"
ETCD_PORT="${LOCAL_CLUSTER_ETCD_PORT:-2379}"
ETCD_PEER_PORT=$((ETCD_PORT + 1))
KCM_PORT="${LOCAL_CLUSTER_KCM_PORT:-10257}"
SCHED_PORT="${LOCAL_CLUSTER_SCHED_PORT:-10259}"
KWOK_PORT="${LOCAL_CLUSTER_KWOK_PORT:-10247}"
NODES="${LOCAL_CLUSTER_NODES:-2}"
REAL_NODE="${LOCAL_CLUSTER_REAL_NODE:-1}"

export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false CGO_ENABLED=0
export GOMODCACHE="${GOMODCACHE:-$CACHE/gomod}" GOCACHE="${GOCACHE:-$CACHE/gobuild}"

log() { printf '[local-cluster] %s\n' "$*" >&2; }

build_kubernetes() {
  local want=(kube-apiserver kube-controller-manager kube-scheduler kubectl) missing=0
  for b in "${want[@]}"; do [[ -x "$BIN/$b" ]] || missing=1; done
  [[ $missing == 0 ]] && return 0
  local src="$CACHE/src/kubernetes-$K8S_VERSION"
  mkdir -p "$src" "$BIN"
  cd "$src"
  local minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
  local staging="v0.${K8S_VERSION#v1.}"
  cat > go.mod <<MOD
module local/kubernetes-build

go 1.24.0
MOD
  log "downloading k8s.io/kubernetes@$K8S_VERSION"
  local gomod
  gomod="$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')"
  # every staging module k8s.io/<m> => ./staging/... becomes k8s.io/<m>@v0.Y.Z
  local mods
  mods="$(grep -E '^\s*k8s\.io/[^ ]+ => \./staging/' "$gomod" | awk '{print $1}' | sort -u)"
  [[ -n "$mods" ]] || { log "no staging replaces found in $gomod"; exit 1; }
  for m in $mods; do go mod edit -replace "$m=$m@$staging"; done
  log "$(echo "$mods" | wc -l) staging modules replaced with $staging"
  go get "k8s.io/kubernetes@$K8S_VERSION" \
    "k8s.io/kubernetes/cmd/kube-apiserver@$K8S_VERSION" \
    "k8s.io/kubernetes/cmd/kube-controller-manager@$K8S_VERSION" \
    "k8s.io/kubernetes/cmd/kube-scheduler@$K8S_VERSION" \
    "k8s.io/kubernetes/cmd/kubectl@$K8S_VERSION" >/dev/null
  local vpkg=k8s.io/component-base/version
  local ld="-s -w -X $vpkg.gitVersion=$K8S_VERSION -X $vpkg.gitMajor=1 -X $vpkg.gitMinor=$minor -X $vpkg.gitTreeState=clean"
  # kubectl reads its version from client-go's package too
  ld="$ld -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor"
  log "building kube-apiserver, kube-controller-manager, kube-scheduler, kubectl $K8S_VERSION (long on a cold cache)"
  go build -trimpath -ldflags "$ld" -o "$BIN/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl
}

build_etcd() {
  [[ -x "$BIN/etcd" ]] && return 0
  local src="$CACHE/src/etcd-$ETCD_VERSION"
  mkdir -p "$src" "$BIN"
  cd "$src"
  printf 'module local/etcd-build\n\ngo 1.24.0\n' > go.mod
  go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >/dev/null
  log "building etcd $ETCD_VERSION"
  go build -trimpath -ldflags "-s -w" -o "$BIN/etcd" go.etcd.io/etcd/server/v3
}

build_kwok() {
  [[ -x "$BIN/kwok" ]] && return 0
  mkdir -p "$BIN"
  log "building kwok $KWOK_VERSION"
  GOBIN="$BIN" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
}

build_kubelet() {  # same module source, caches and version stamp as the control plane
  [[ -x "$BIN/kubelet" ]] && return 0
  local src="$CACHE/src/kubernetes-$K8S_VERSION"
  cd "$src"
  local minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
  local vpkg=k8s.io/component-base/version
  go get "k8s.io/kubernetes/cmd/kubelet@$K8S_VERSION" >/dev/null
  log "building kubelet $K8S_VERSION"
  go build -trimpath -ldflags "-s -w -X $vpkg.gitVersion=$K8S_VERSION -X $vpkg.gitMajor=1 -X $vpkg.gitMinor=$minor -X $vpkg.gitTreeState=clean" \
    -o "$BIN/" k8s.io/kubernetes/cmd/kubelet
}

real_node() { (cd "$ROOT" && python3 -m local_stack.real_node "$@"); }

cmd_build() {
  build_etcd
  build_kwok
  build_kubernetes
  if [[ $REAL_NODE != 0 ]]; then
    build_kubelet
    real_node build
  fi
  log "binaries in $BIN"
}


pidfile() { echo "$STATE/run/$1.pid"; }

is_running() {
  local f; f="$(pidfile "$1")"
  [[ -f "$f" ]] && kill -0 "$(cat "$f")" 2>/dev/null
}

start() {  # start NAME CMD...: run in the background, log to .local/logs/NAME.log
  local name="$1"; shift
  if is_running "$name"; then return 0; fi
  mkdir -p "$STATE/run" "$STATE/logs"
  nohup "$@" >"$STATE/logs/$name.log" 2>&1 &
  echo $! > "$(pidfile "$name")"
}

wait_for() {  # wait_for WHAT SECONDS CMD...
  local what="$1" secs="$2"; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS > deadline)); then log "timed out waiting for $what (see $STATE/logs)"; return 1; fi
    sleep 0.5
  done
}

write_pki() {
  local pki="$STATE/pki"
  [[ -f "$pki/sa.key" ]] && return 0
  mkdir -p "$pki"
  openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
  openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
  # admin access by a static token; the apiserver writes its own self-signed serving cert
  local token; token="$(openssl rand -hex 24)"
  echo "$token,admin,admin,system:masters" > "$pki/tokens.csv"
  # the real node's kubelet (no client certificates here): user system:node:real-node
  openssl rand -hex 24 > "$pki/node-token"
  echo "$(cat "$pki/node-token"),system:node:real-node,real-node,system:nodes" >> "$pki/tokens.csv"
  chmod 600 "$pki/tokens.csv" "$pki/sa.key" "$pki/node-token"
}

write_kubeconfig() {  # before the apiserver is up: skip TLS checks; after: trust its self-signed CA
  local token tls; token="$(head -n1 "$STATE/pki/tokens.csv" | cut -d, -f1)"
  if [[ -s "$STATE/pki/apiserver.crt" ]]; then
    tls="certificate-authority-data: $(base64 -w0 < "$STATE/pki/apiserver.crt")"
  else
    tls="insecure-skip-tls-verify: true"
  fi
  cat > "$STATE/kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: https://127.0.0.1:$API_PORT
    $tls
users:
- name: admin
  user:
    token: $token
contexts:
- name: local
  context: {cluster: local, user: admin}
current-context: local
KC
  chmod 600 "$STATE/kubeconfig"
}

kc() { "$BIN/kubectl" --kubeconfig "$STATE/kubeconfig" "$@"; }

cmd_up() {
  for b in etcd kube-apiserver kube-controller-manager kube-scheduler kwok kubectl; do
    [[ -x "$BIN/$b" ]] || cmd_build
  done
  [[ $REAL_NODE == 0 || -x "$BIN/kubelet" ]] || cmd_build
  mkdir -p "$STATE"
  write_pki
  write_kubeconfig
  start etcd "$BIN/etcd" --name local --data-dir "$STATE/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "local=http://127.0.0.1:$ETCD_PEER_PORT" --unsafe-no-fsync --quota-backend-bytes 4294967296 \
    --log-level warn
  wait_for etcd 30 curl -sf "http://127.0.0.1:$ETCD_PORT/health"
  start kube-apiserver "$BIN/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$ETCD_PORT" --bind-address 127.0.0.1 --advertise-address 127.0.0.1 \
    --secure-port "$API_PORT" --cert-dir "$STATE/pki" --token-auth-file "$STATE/pki/tokens.csv" \
    --authorization-mode RBAC --service-cluster-ip-range 10.96.0.0/16 --allow-privileged=true \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$STATE/pki/sa.pub" --service-account-signing-key-file "$STATE/pki/sa.key" \
    --enable-priority-and-fairness=false --max-requests-inflight 0 --max-mutating-requests-inflight 0 \
    --event-ttl 2h --kubelet-preferred-address-types InternalIP,Hostname,ExternalIP
  wait_for kube-apiserver 90 kc get --raw /readyz
  write_kubeconfig
  # HPAs synced every 2 s, not 15: a new HPA's first conditions come 15 s late otherwise (one sync period)
  start kube-controller-manager "$BIN/kube-controller-manager" \
    --kubeconfig "$STATE/kubeconfig" --leader-elect=false --bind-address 127.0.0.1 --secure-port "$KCM_PORT" \
    --service-account-private-key-file "$STATE/pki/sa.key" --root-ca-file "$STATE/pki/apiserver.crt" \
    --controllers '*,-nodeipam,-service-lb-controller,-cloud-node-lifecycle' --concurrent-deployment-syncs 10 \
    --concurrent-replicaset-syncs 10 --node-monitor-grace-period 2m \
    --horizontal-pod-autoscaler-sync-period 2s
  start kube-scheduler "$BIN/kube-scheduler" \
    --kubeconfig "$STATE/kubeconfig" --leader-elect=false --bind-address 127.0.0.1 --secure-port "$SCHED_PORT"
  start kwok "$BIN/kwok" --kubeconfig "$STATE/kubeconfig" --config "$ROOT/hack/kwok/stages.yaml" \
    --manage-all-nodes=false --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake \
    --server-address "127.0.0.1:$KWOK_PORT" --cidr 10.244.0.1/16 --node-ip 10.244.255.1
  for i in $(seq 1 "$NODES"); do
    kc apply -f - >/dev/null <<NODE
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-$i
  annotations: {kwok.x-k8s.io/node: fake, node.alpha.kubernetes.io/ttl: "0"}
  labels: {kubernetes.io/hostname: kwok-node-$i, kubernetes.io/os: linux, kubernetes.io/arch: amd64, type: kwok}
status:
  allocatable: {cpu: "8", memory: 32Gi, pods: "110"}
  capacity: {cpu: "8", memory: 32Gi, pods: "110"}
NODE
  done
  wait_for "nodes Ready" 60 bash -c "[[ \$('$BIN/kubectl' --kubeconfig '$STATE/kubeconfig' get nodes --no-headers 2>/dev/null | grep -c ' Ready') -ge $NODES ]]"
  wait_for "default ServiceAccount" 60 kc get serviceaccount default -n default
  [[ $REAL_NODE == 0 ]] || real_node up
  log "up: export KUBECONFIG=$STATE/kubeconfig"
}

cmd_down() {
  [[ ! -d "$STATE/node" && ! -f "$STATE/real-node-baseline.json" ]] || real_node down
  # all at once (their data goes with them): SIGTERM, up to 5 s for every one of them together, then SIGKILL
  # (one after the other, each waited out, took ~13 s: the apiserver's graceful shutdown alone ran out its 5 s)
  local pids=() name f
  for name in kwok kube-scheduler kube-controller-manager kube-apiserver etcd; do
    f="$(pidfile "$name")"
    [[ -f "$f" ]] && pids+=("$(cat "$f")") && kill "$(cat "$f")" 2>/dev/null || true
  done
  for _ in $(seq 1 50); do
    local alive=0 pid
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [[ $alive == 0 ]] && break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true; done
  for name in kwok kube-scheduler kube-controller-manager kube-apiserver etcd; do rm -f "$(pidfile "$name")"; done
  rm -rf "$STATE/etcd" "$STATE/pki" "$STATE/kubeconfig"
  log "down"
}

cmd_status() {
  local all=0
  for name in etcd kube-apiserver kube-controller-manager kube-scheduler kwok; do
    if is_running "$name"; then echo "$name: running"; else echo "$name: stopped"; all=1; fi
  done
  [[ $REAL_NODE == 0 ]] || real_node status || all=1
  [[ $all == 0 ]] && kc get --raw /readyz >/dev/null 2>&1 && echo "readyz: ok" || { echo "readyz: not ready"; return 1; }
}

cmd_env() {
  echo "LOCAL_CLUSTER_BIN=$BIN"
  echo "LOCAL_CLUSTER_STATE=$STATE"
  echo "KUBECONFIG=$STATE/kubeconfig"
  echo "KUBECTL=$BIN/kubectl"
}

case "${1:-}" in
  build) cmd_build ;;
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  env) cmd_env ;;
  *) echo "usage: $0 build|up|down|status|env" >&2; exit 2 ;;
esac
