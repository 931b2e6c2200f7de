#!/usr/bin/env bash
# Rebuild the shipped models from an empty cache into a scratch folder (weights/ is not touched) and
# compare them with the shipped cards: `make rebuild-check` (about 55 min on 2 cores; run it in the
# background and poll). The outcome is appended to reports/rebuild_check.json and shown in RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
export PYTHONPATH=.
SCRATCH=${SCRATCH:-runs/rebuild}
rm -rf "$SCRATCH"
WORK="$SCRATCH/work" OUT_WEIGHTS="$SCRATCH/weights" OUT_REPORTS="$SCRATCH/reports" MODELS_ONLY=1 \
  bash scripts/train_all.sh
$PY -m core.evaluation.rebuild --rebuilt "$SCRATCH/weights" --wall-min "$(cat "$SCRATCH/work/minutes")"
$PY -m core.evaluation.results
