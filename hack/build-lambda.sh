#!/usr/bin/env bash
# Builds build/bridge-lambda.zip: bridge_lambda plus its two dependencies (kubernetes, pydantic) as
# Linux x86_64 wheels for Python 3.11, compiled to bytecode. boto3 comes with the Lambda runtime and is not packed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PY:-$ROOT/.venv/bin/python}"
[[ "$PY" = /* ]] || PY="$ROOT/$PY"
OUT="$ROOT/build/lambda"
rm -rf "$OUT" "$ROOT/build/bridge-lambda.zip"
mkdir -p "$OUT"
"$PY" -m pip install -q --target "$OUT" --platform manylinux2014_x86_64 --python-version 3.11 \
  --implementation cp --only-binary=:all: 'kubernetes>=30,<37' 'pydantic>=2.6,<3'
rm -rf "$OUT"/bin
cp -r "$ROOT/bridge_lambda" "$OUT/"
find "$OUT" -name __pycache__ -prune -exec rm -rf {} +
# Bytecode for the runtime's Python (3.11): /var/task is read-only on Lambda, so without it every cold start
# compiles kubernetes and pydantic again (about 4 s against 0.8 s here; tests/test_bridge_runtime.py measures it).
# unchecked-hash: the files never change once unzipped, and their mtimes are not kept. Not kubernetes/aio (half of
# kubernetes, an asyncio client the bridge never imports).
PY311="$PY"
[[ "$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" == 3.11 ]] || PY311="$(command -v python3.11 || true)"
if [[ -n "$PY311" ]]; then
  "$PY311" -m compileall -q -j 0 --invalidation-mode unchecked-hash -x '/kubernetes/aio/' "$OUT" >/dev/null
else
  echo "build-lambda: no Python 3.11 here, the zip ships without bytecode (slower cold starts)" >&2
fi
(cd "$OUT" && "$PY" -m zipfile -c "$ROOT/build/bridge-lambda.zip" .)
echo "build/bridge-lambda.zip ($(du -h "$ROOT/build/bridge-lambda.zip" | cut -f1)); handler: bridge_lambda.handler.handle"
