#!/usr/bin/env bash
# Canny ablation: the two shipped architectures again with Canny edges blended in, same seed and
# schedule as scripts/train_all.sh; cards and predictions land in reports/, weights in runs/models.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
export PYTHONPATH=.
COMMON=(--epochs 15 --views 4 --batch 64 --lr 1e-3 --patience 5 --budget-min 40 --canny blend)
for model in efficientnet_lite0 mobilenet_v2; do
  $PY -m core.train --model "$model" --name "${model}_canny" "${COMMON[@]}"
done
$PY -m core.evaluation.results
