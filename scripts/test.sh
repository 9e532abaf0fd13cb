#!/usr/bin/env bash
# The whole test suite (what CI runs): lint, then every test.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
"$VENV/bin/ruff" check whisper_pipeline whisper_pipeline_tests
"$VENV/bin/ruff" format --check whisper_pipeline whisper_pipeline_tests
exec "$VENV/bin/python" -m pytest -p no:cacheprovider "$@"
