#!/usr/bin/env bash
# Build (once) the `helm` client from Go modules into the same cache as the local control plane
# (hack/local-cluster.sh), keyed by version. Only cmd/helm, stripped: a few minutes on 2 cores
# with a cold cache, nothing when already built. Prints the binary's path on stdout.
#
#   hack/build-helm.sh          build if missing, print the path
#   HELM_VERSION=v3.19.5 ...    pin another version (the Go module proxy serves v3.18.4..v3.22.0)
set -euo pipefail

HELM_VERSION="${HELM_VERSION:-v3.19.5}"
CACHE="${INCIDENT_OPERATOR_CACHE:-$HOME/.cache/incident-operator}"
BIN="$CACHE/bin/helm-$HELM_VERSION"

export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false CGO_ENABLED=0
export GOMODCACHE="${GOMODCACHE:-$CACHE/gomod}" GOCACHE="${GOCACHE:-$CACHE/gobuild}"

log() { printf '[build-helm] %s\n' "$*" >&2; }

if [[ ! -x "$BIN/helm" ]]; then
  src="$CACHE/src/helm-$HELM_VERSION"
  mkdir -p "$src" "$BIN"
  cd "$src"
  printf 'module local/helm-build\n\ngo 1.24.0\n' > go.mod
  log "downloading helm.sh/helm/v3@$HELM_VERSION"
  go get "helm.sh/helm/v3@$HELM_VERSION" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" >/dev/null 2>&1 \
    || go get "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  # Set at link time as Helm's Makefile does: its version, and the Kubernetes version of its client-go
  # (what `helm template` and `helm lint` assume without a cluster; Helm's own default is 1.20).
  client_go="$(go list -m -f '{{.Version}}' k8s.io/client-go)"   # v0.Y.Z
  k8s_minor="$(echo "$client_go" | cut -d. -f2)"
  ld="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
    ld="$ld -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$k8s_minor"
  done
  log "building helm $HELM_VERSION (cmd/helm only, Kubernetes 1.$k8s_minor client)"
  go build -trimpath -ldflags "$ld" -o "$BIN/helm.tmp" helm.sh/helm/v3/cmd/helm
  mv "$BIN/helm.tmp" "$BIN/helm"
fi
echo "$BIN/helm"
