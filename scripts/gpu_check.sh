#!/usr/bin/env bash
# The GPU check (issue 21), one prepared script for a machine with a GPU and no network (under 8 minutes on an
# H100/H200). Its Python has torch, Lightning, scikit-learn and h5py; Hydra and OmegaConf (pure Python, any 3.x)
# are installed from wheels built beforehand by `make gpu-wheels` into .wheels/ (ignored by git; carry it to the
# machine). W&B is not needed: the runs use logger=none.
# Writes records into $OUT (else results/gpu/): MNIST10K at the size rule's schedule with trainer=gpu (wall time,
# ACC, seconds per epoch of each stage), scripts/gpu_profile.py's split of a step between host and device (profile/),
# make bench's PBMC-2-shaped case as is, with bf16-mixed and compiled, and the official MNIST10K schedule for the
# time left (about 20 minutes on an H200: its partial record keeps the seconds per epoch). The MNIST runs read
# $IDC_DATA_DIR/MNIST_train60k.npz: copy it into a git-ignored folder of the checkout and carry that folder.
#
#   scripts/gpu_check.sh                 # on the GPU machine, from the repository root
#   scripts/gpu_check.sh --dry-run       # anywhere: the same logic on the CPU in seconds (records are not results)
#   scripts/gpu_check.sh --dry-run dataset=synthetic   # extra overrides go to the MNIST run
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
WHEELS=${WHEELS:-.wheels}
DEST=${OUT:-results/gpu}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export IDC_DATA_DIR=${IDC_DATA_DIR:-$PWD/data}
export WANDB_MODE=offline CI=1

missing=$("$PYTHON" - <<'PY'
import importlib.util
print(" ".join(m for m in ("hydra", "omegaconf") if importlib.util.find_spec(m) is None))
PY
)
if [ -n "$missing" ]; then
  if [ ! -d "$WHEELS" ]; then
    echo "gpu_check: $missing not installed and no $WHEELS/ folder; run 'make gpu-wheels' on a machine with network first" >&2
    exit 2
  fi
  echo "gpu_check: installing $missing from $WHEELS (no network)"
  "$PYTHON" -m pip install --quiet --no-index --find-links "$WHEELS" hydra-core omegaconf
fi

if [ "${1:-}" != "--dry-run" ]; then
  "$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'gpu_check: no CUDA device; use --dry-run')"
fi
start=$(date +%s)
left() { echo $((480 - ($(date +%s) - start))); }  # of the check's 8 minutes
# shortest and most needed first: a run cut by the time limit still leaves the earlier parts' records
timeout -k 20 150 "$PYTHON" scripts/gpu_check.py --out "$DEST" --only size_rule "${@}" \
  || echo "gpu_check: the size rule's MNIST10K run failed or timed out" >&2
if [ "${1:-}" != "--dry-run" ]; then  # where a step's time goes (about a minute)
  timeout -k 20 120 "$PYTHON" scripts/gpu_profile.py --out "$DEST/profile" \
    || echo "gpu_check: profile failed or timed out" >&2
fi
timeout -k 20 120 "$PYTHON" scripts/gpu_check.py --out "$DEST" --only bench "${@}" \
  || echo "gpu_check: bench part failed or timed out" >&2
if [ "$(left)" -gt 30 ]; then
  timeout -k 20 "$(left)" "$PYTHON" scripts/gpu_check.py --out "$DEST" --only mnist "${@}" \
    || echo "gpu_check: the official schedule ran past the 8-minute budget (its partial record stays)" >&2
else
  echo "gpu_check: no time left for the official schedule (skipped)" >&2
fi
echo "gpu_check: $(( $(date +%s) - start )) s; records in $DEST"
