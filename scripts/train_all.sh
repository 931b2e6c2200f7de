#!/usr/bin/env bash
# Rebuild the shipped ensemble from scratch on the CPU, then its card, benchmark and RESULTS.md.
# Long: run it in the background (`nohup make train-all > runs/train_all.log 2>&1 &`) and poll the log.
# A fresh activation cache and fresh run folders make the wall time an honest from-scratch figure.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
export PYTHONPATH=.
WORK=${WORK:-runs/train_all}
rm -rf "$WORK"
COMMON=(--epochs 15 --views 4 --batch 64 --lr 1e-3 --patience 5 --budget-min 40 --out weights
        --cache-dir "$WORK/cache")
start=$(date +%s)
for model in efficientnet_lite0 mobilenet_v2; do
  $PY -m core.train --model "$model" "${COMMON[@]}" --run-dir "$WORK/$model"
done
$PY -m core.ensemble.fit
$PY -m core.training.scope_fit
$PY -m core.evaluation.pointing
$PY -m core.evaluation.bench
minutes=$(( ($(date +%s) - start) / 60 ))
printf '{"minutes": %d, "cores": %d, "finished": "%s"}\n' "$minutes" "$(nproc)" "$(date -Is)" \
  > reports/train_all_time.json
$PY -m core.evaluation.results
echo "train-all wall time: $minutes min on $(nproc) cores"
