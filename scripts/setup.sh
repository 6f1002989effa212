#!/usr/bin/env bash
# Creates the virtual environment .venv in the repository root and installs FauxPilot in it.
#   scripts/setup.sh          the server
#   scripts/setup.sh --test   the server, the test tools, and the models the tests use
# llama-cpp-python has no prebuilt wheel for most machines: pip compiles it from source the
# first time (about 5 minutes on an idle 2-core machine, up to 16 on a busy one); pip caches
# the wheel, so later runs take seconds.
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

if ! .venv/bin/python -c 'import llama_cpp' >/dev/null 2>&1; then
  echo "installing llama-cpp-python: compiling llama.cpp takes 5-16 minutes the first time"
fi
if $with_tests; then
  .venv/bin/python -m pip install --quiet -e ".[test]"
  # The tests serve the tiny model and the default model; fetch and verify both now.
  .venv/bin/fauxpilot models pull smollm2-135m
  .venv/bin/fauxpilot models pull qwen2.5-coder-0.5b
else
  .venv/bin/python -m pip install --quiet -e .
fi
echo "FauxPilot is installed in .venv"
