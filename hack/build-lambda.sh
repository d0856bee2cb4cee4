#!/usr/bin/env bash
# Builds build/bridge-lambda.zip: bridge_lambda plus its two dependencies (kubernetes, pydantic) as
# Linux x86_64 wheels for Python 3.11. boto3 comes with the Lambda runtime and is not packed.
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
(cd "$OUT" && "$PY" -m zipfile -c "$ROOT/build/bridge-lambda.zip" .)
echo "build/bridge-lambda.zip ($(du -h "$ROOT/build/bridge-lambda.zip" | cut -f1)); handler: bridge_lambda.handler.handle"
