#!/usr/bin/env bash
# The GPU check (issue 17), one command on the device machine, from the repository root:
#
#   bash benchmarks/gpu_check.sh [driver arguments]      # device `run`, carry: [".whl"]
#
# Uses the machine's own python3 (torch with CUDA, lightning, ...), installs the carried
# wheels (.whl/, built here by `bash benchmarks/gpu_wheels.sh`) offline into /tmp, puts src/
# on PYTHONPATH, keeps W&B and Hugging Face offline, and runs `python -m benchmarks.gpu_check`
# under a hard time bound. Writes $OUT/gpu-check.json, $OUT/gpu-check.md, $OUT/gpu-check.log.
# Exit status: the driver's (0: everything passed), 124 when the bound stopped it.
set -uo pipefail
cd "$(dirname "$0")/.."
START=$SECONDS
OUT=${OUT:-benchmarks/.work/gpu-check}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
WHEELS=${WHEELS:-.whl}
SITE=${SITE:-/tmp/seqlab-site}
# the driver's own budget, and the bound that kills it if it overruns (seconds)
BUDGET=${GPU_CHECK_BUDGET:-420}
BOUND=${GPU_CHECK_BOUND:-445}

if ls "$WHEELS"/*.whl >/dev/null 2>&1; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$SITE" "$WHEELS"/*.whl || { echo "gpu_check.sh: wheel install failed" >&2; exit 3; }
  export PYTHONPATH="$SITE"
else
  echo "gpu_check.sh: no wheels in $WHEELS (bash benchmarks/gpu_wheels.sh here, carry .whl)" >&2
fi
export PYTHONPATH="$PWD/src:$PWD${PYTHONPATH:+:$PYTHONPATH}"
export SEQLAB_ROOT="$PWD" PYTHONUNBUFFERED=1
export WANDB_MODE=offline WANDB_SILENT=true WANDB_CONSOLE=off
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 HF_DATASETS_DISABLE_PROGRESS_BARS=1
export HF_HOME=/tmp/seqlab-hf MPLBACKEND=Agg
unset WANDB_API_KEY

echo "gpu_check.sh: wheels installed in $((SECONDS - START)) s; running the driver"

timeout -k 15 "$BOUND" "$PY" -m benchmarks.gpu_check --out "$OUT" --budget "$BUDGET" "$@" \
  2>&1 | tee "$OUT/gpu-check.log"
status=${PIPESTATUS[0]}
echo "gpu_check.sh: exit $status after $((SECONDS - START)) s; results in $OUT"
exit "$status"
