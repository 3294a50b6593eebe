#!/usr/bin/env bash
# On a machine with a CUDA GPU: saebench's GPU tier, saebench's parity tier on CUDA (against SAEBench's CPU
# fixtures) and SAEBench 0.6.0's own parity scripts on CUDA, so CUDA-vs-CPU differences of both harnesses are
# measured in one run. Writes log.txt and SAEBench's CUDA outputs (JSON) to $OUT.
#
#   bash parity/cuda_parity.sh            # in an environment with saebench's and SAEBench's packages
#
# On a machine without package access, carry the wheels listed in parity/README.md ("CUDA") in .whl/:
# they are installed to /tmp/site first. SAE Lens imports wandb at module level (only its training code
# uses it); where wandb is absent an empty stand-in module is put on the path.
set -uo pipefail
OUT="${OUT:-/tmp/cuda-parity}"
mkdir -p "$OUT"
LOG="$OUT/log.txt"
if compgen -G ".whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || { echo "wheel install failed" | tee "$LOG"; exit 1; }
  export PYTHONPATH="/tmp/site:${PYTHONPATH:-}"
fi
if ! python3 -c "import wandb" 2>/dev/null; then
  mkdir -p /tmp/stubs/wandb && echo '"""Stand-in for SAE Lens module-level import; never called."""' \
    > /tmp/stubs/wandb/__init__.py
  export PYTHONPATH="${PYTHONPATH:-}:/tmp/stubs"
fi
export PYTHONPATH="$PWD:${PYTHONPATH}" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1

section() { echo -e "\n===== $* =====" | tee -a "$LOG"; }
timed() { local t0=$SECONDS; "$@"; local rc=$?; echo "[exit $rc, $((SECONDS - t0)) s]" | tee -a "$LOG"; }

section environment
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | tee -a "$LOG"
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__,
'cuda', torch.cuda.is_available())" 2>&1 | tee -a "$LOG"

section "saebench GPU tier (tests/gpu)"
timed python3 -m pytest -m gpu tests/gpu -q -p no:cacheprovider 2>&1 | tail -n 15 | tee -a "$LOG"

section "saebench parity tier on CUDA vs SAEBench's CPU fixtures"
timed env SAEBENCH_PARITY_DEVICE=cuda python3 -m pytest tests/parity -q -p no:cacheprovider -rf 2>&1 | tail -n 40 \
  | tee -a "$LOG"

for eval in core absorption sparse_probing; do
  section "SAEBench 0.6.0 $eval on CUDA"
  extra=()
  [ "$eval" = absorption ] && extra=(--seeds 42 0 1)
  (cd parity && timed python3 "${eval}_saebench.py" --device cuda --out "$OUT/saebench_${eval}_cuda.json" \
    "${extra[@]}") > "/tmp/${eval}.log" 2>&1
  grep -v "it/s\]\|s/it\]\|\[A" "/tmp/${eval}.log" | tail -n 12 | tee -a "$LOG"
done
