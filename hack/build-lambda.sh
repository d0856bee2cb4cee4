#!/usr/bin/env bash
# Builds build/bridge-lambda.zip: bridge_lambda plus its two dependencies (kubernetes, pydantic) as
# Linux x86_64 wheels for Python 3.11, compiled to bytecode. boto3 comes with the Lambda runtime and is not packed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PY:-$ROOT/.venv/bin/python}"
[[ "$PY" = /* ]] || PY="$ROOT/$PY"
OUT="$ROOT/build/lambda"
CACHE="${INCIDENT_OPERATOR_CACHE:-$(cd ~ && pwd)/.cache/incident-operator}"  # ~: the passwd entry when HOME is unset
rm -rf "$OUT" "$ROOT/build/bridge-lambda.zip"
mkdir -p "$OUT" "$CACHE/lambda-deps"
# Bytecode for the runtime's Python (3.11): /var/task is read-only on Lambda, so without it every cold start
# compiles kubernetes and pydantic again (about 4 s against 0.8 s here; tests/test_bridge_runtime.py measures it).
# unchecked-hash: the files never change once unzipped, and their mtimes are not kept. Not kubernetes/aio (half of
# kubernetes, an asyncio client the bridge never imports).
PY311="$PY"
[[ "$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" == 3.11 ]] || PY311="$(command -v python3.11 || true)"
compile() {  # compile DIR ROOT: paths in tracebacks as Lambda unzips them (/var/task), wherever it was compiled
  if [[ -n "$PY311" ]]; then
    "$PY311" -m compileall -q -j 0 --invalidation-mode unchecked-hash -x '/kubernetes/aio/' -s "$2" -p /var/task "$1" >/dev/null
  fi
}
[[ -n "$PY311" ]] || echo "build-lambda: no Python 3.11 here, the zip ships without bytecode (slower cold starts)" >&2
# The dependencies (installed, compiled) are kept in the cache for the UTC day, keyed by this script and whether
# there is a Python 3.11: later builds that day copy them instead of resolving and installing again (~10 s);
# the next day resolves again, so a new release within the ranges below is still picked up.
key="$(cat "${BASH_SOURCE[0]}" <(date -u +%F) <(echo "$PY311") | sha256sum | cut -c1-16)"
DEPS="$CACHE/lambda-deps/$key"
if [[ ! -d "$DEPS" ]]; then
  find "$CACHE/lambda-deps" -mindepth 1 -maxdepth 1 -mtime +1 -exec rm -rf {} +  # earlier days'
  tmp="$(mktemp -d "$CACHE/lambda-deps/.build.XXXXXX")"
  "$PY" -m pip install -q --target "$tmp" --platform manylinux2014_x86_64 --python-version 3.11 \
    --implementation cp --only-binary=:all: 'kubernetes>=30,<37' 'pydantic>=2.6,<3'
  rm -rf "$tmp"/bin
  find "$tmp" -name __pycache__ -prune -exec rm -rf {} +
  compile "$tmp" "$tmp"
  mv -T "$tmp" "$DEPS" 2>/dev/null || rm -rf "$tmp"  # another build finished first: keep its copy
fi
cp -al "$DEPS/." "$OUT/" 2>/dev/null || cp -a "$DEPS/." "$OUT/"  # hard links: nothing here is written to
cp -r "$ROOT/bridge_lambda" "$OUT/"
find "$OUT/bridge_lambda" -name __pycache__ -prune -exec rm -rf {} +
compile "$OUT/bridge_lambda" "$OUT"
(cd "$OUT" && "$PY" -m zipfile -c "$ROOT/build/bridge-lambda.zip" .)
echo "build/bridge-lambda.zip ($(du -h "$ROOT/build/bridge-lambda.zip" | cut -f1)); handler: bridge_lambda.handler.handle"
