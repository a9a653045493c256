#!/bin/bash
# benchmarks/results/dalle_clip.md: the three trainings of `make dalle`, each timed (wall, user
# and sys seconds from /usr/bin/time, one thread), then eval.py of the result with a judge.
#   bash benchmarks/dalle_clip.sh <out dir> <judge classifier ckpt (e.g. an experiment=lstm_mnist run)>
set -euo pipefail
OUT=${1:?out dir}
JUDGE=${2:?judge classifier checkpoint}
PY=${PY:-python}
export OMP_NUM_THREADS=1 WANDB_MODE=${WANDB_MODE:-offline}
T() { local name=$1; shift; /usr/bin/time -f "$name wall %e user %U sys %S" -a -o "$OUT/times.txt" "$@" > "$OUT/$name.log" 2>&1; }
mkdir -p "$OUT"
T vqvae $PY train.py experiment=vqvae_mnist hydra.run.dir="$OUT/vqvae"
T dalle $PY train.py experiment=dalle_mnist model.tokenizer_ckpt="$OUT/vqvae/checkpoints/last.ckpt" hydra.run.dir="$OUT/dalle"
T clip $PY train.py experiment=clip_mnist hydra.run.dir="$OUT/clip"
T eval $PY eval.py ckpt_path="$OUT/dalle/checkpoints/last.ckpt" classifier_ckpt="$JUDGE" \
  rerank_ckpt="$OUT/clip/checkpoints/last.ckpt" candidates=8 attribute_images_per_digit=20 \
  threads=1 trainer.accelerator=cpu hydra.run.dir="$OUT/eval"
cat "$OUT/times.txt"
