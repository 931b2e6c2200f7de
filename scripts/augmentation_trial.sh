#!/usr/bin/env bash
# One training recipe on shifted val (reports/augmentation_trial.json): both members retrained with the recipe
# into runs/trial/w (MODELS_ONLY rebuild), the ensemble refitted with the shipped localiser's evidence, then the
# val robustness run that `python -m core.evaluation.choice` compares. Long (about 65 min on 2 cores): run it in
# the background. The recipe comes from the same variables as scripts/train_all.sh, whose defaults are now the
# artefact50 recipe (`scripts/augmentation_trial.sh artefact50` repeats that trial); the plain recipe it beat is
#   SHIFT_SHARE=0 VIEWS=4 PATIENCE=5 scripts/augmentation_trial.sh none
set -euo pipefail
cd "$(dirname "$0")/.."
NAME=${1:?usage: scripts/augmentation_trial.sh NAME (the report goes to reports/val_robustness/NAME.json)}
PY=${PY:-.venv/bin/python}
export PYTHONPATH=.
T=runs/trial
WORK=$T/work OUT_WEIGHTS=$T/w OUT_REPORTS=$T/reports MODELS_ONLY=1 bash scripts/train_all.sh
cp weights/localizer.json weights/localizer.safetensors weights/scope.json weights/scope.safetensors "$T/w/"
FRACTURE_WEIGHTS_DIR=$T/w FRACTURE_REPORTS_DIR=$T/reports $PY -m core.ensemble.fit \
  --members efficientnet_lite0 mobilenet_v2 --box-fusion auto --weights-dir "$T/w"
$PY -m core.robustness --split val --shifts zoom border jpeg window noise blur markers text tilt_grey gamma_dark \
  --levels middle --limit 300 --seed 0 --bootstrap 0 --batch 16 --orientation off --weights "$T/w" \
  --out "reports/val_robustness/$NAME.json"
