#!/usr/bin/env bash
# Everything a fresh machine needs: system packages, the virtual environment with the pinned
# Python stack, and the real meeting speech the evaluation uses. Safe to run again: it skips
# what is done.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
VENV=${VENV:-.venv}

# 1. System packages: ffmpeg decodes audio; espeak-ng and sox make synthetic speech; chromium
#    (driven by Playwright) checks the UI; docker-compose validates docker/compose.yaml.
missing=()
for tool in ffmpeg:ffmpeg ffprobe:ffmpeg espeak-ng:espeak-ng sox:sox soxi:sox chromium:chromium \
            docker-compose:docker-compose; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || missing+=("${tool##*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  packages=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
  echo "setup: installing system packages: $packages"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $packages >/dev/null
fi
# Prometheus and promtool: the monitoring tests run a real server and check the alert rules
# (without its recommended node exporter, which would start a service)
if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then
  echo "setup: installing prometheus"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi

# 2. The virtual environment, pinned by requirements.lock (torch 2.8 comes from PyPI).
stamp="$VENV/.installed-$(cat pyproject.toml requirements.lock | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  echo "setup: installing Python dependencies into $VENV (first time: several minutes, ~8 GB)"
  "$VENV/bin/python" -m pip install -q --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
  "$VENV/bin/python" -m pip install -q -c requirements.lock -e '.[dev]' 2>&1 \
    | grep -v '^WARNING: Location' || true
  "$VENV/bin/python" -c "import whisper_pipeline, whisperx, dagster, duckdb" \
    || { echo "setup: the Python install failed" >&2; exit 1; }
  rm -f "$VENV"/.installed-*
  touch "$stamp"
fi

# 3. Real meeting speech for the evaluation sets and tests: the AMI excerpts that pyannote.audio
#    3.0.0's source distribution on PyPI carries (15.6 MB, once, checked by SHA-256).
"$VENV/bin/python" -c "from whisper_pipeline.evaluation.ami_excerpts import ami_excerpts_dir; ami_excerpts_dir()" \
  || { echo "setup: could not fetch the AMI excerpts from PyPI (see above)" >&2; exit 1; }
