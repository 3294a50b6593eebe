#!/usr/bin/env bash
# The reference environment for the parity tier: SAEBench 0.6.0 (and the SAE Lens / TransformerLens it
# pulls in) in its own venv, never a dependency of saebench. Usage: bash parity/setup_env.sh [VENV]
set -euo pipefail
VENV="${1:-.venv-parity}"
python3 -m venv "$VENV"
. "$VENV/bin/activate"
python -m pip install --quiet --upgrade pip
python -m pip install --quiet torch==2.13.0          # the CPU build first, then keep it
echo "torch==2.13.0" > "$VENV/constraints.txt"
python -m pip install --quiet -c "$VENV/constraints.txt" sae-bench==0.6.0
python -m pip install --quiet -c "$VENV/constraints.txt" beartype==0.14.1 jaxtyping==0.3.3
python -m pip uninstall --yes --quiet torchvision     # PyPI's wheel is CUDA-linked and breaks imports here
python -c "import sae_bench, sae_lens, transformer_lens; print('parity env ready:', sae_lens.__version__)"
