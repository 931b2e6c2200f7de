#!/usr/bin/env bash
# Train the registry models that are not in the shipped ensemble, with the CPU recipes their cards
# report: `bash scripts/train_others.sh [MODEL ...]` (default: all five), one after another.
# Weights go to runs/models/ (too large for weights/ or not chosen); cards and predictions to reports/.
# Run it in the background (`nohup make train-others > runs/train_others.log 2>&1 &`) and poll the log.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
export PYTHONPATH=.
COMMON=(--batch 64 --lr 1e-3 --patience 5)  # a recipe's own --lr comes later and wins
declare -A RECIPE=(
  [custom_cnn]="--size 224 --epochs 9 --budget-min 12"
  [deepconvnet]="--size 224 --epochs 8 --budget-min 13"
  [inception_v3]="--size 224 --views 2 --epochs 7 --budget-min 16"
  [vgg16]="--size 160 --views 1 --epochs 8 --budget-min 16 --lr 1e-4"
  [resnet50]="--size 160 --epochs 8 --budget-min 45"
)
status=0
for model in "${@:-custom_cnn deepconvnet inception_v3 vgg16 resnet50}"; do
  for m in $model; do
    [[ -n "${RECIPE[$m]:-}" ]] || { echo "no recipe for $m (choose from ${!RECIPE[*]})"; exit 2; }
    echo "== $(date -Is) start $m"
    rm -rf "runs/$m"
    # shellcheck disable=SC2086
    $PY -m core.train --model "$m" "${COMMON[@]}" ${RECIPE[$m]} || { status=1; echo "== $m failed"; }
    echo "== $(date -Is) end $m"
  done
done
exit $status
