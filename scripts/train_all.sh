#!/usr/bin/env bash
# Rebuild everything that ships from scratch on the CPU (classifiers, ensemble, orientation check, localiser, the ensemble refitted
# with the localiser's evidence when val says so, out-of-scope gate),
# then the pointing game, benchmark and RESULTS.md; the robustness suites are separate (`make robustness`,
# `make localizer-robustness`: hours, not part of the build's 90-minute target).
# Long: run it in the background (`nohup make train-all > runs/train_all.log 2>&1 &`) and poll the log.
# A fresh activation cache and fresh run folders make the wall time an honest from-scratch figure.
#   OUT_WEIGHTS / OUT_REPORTS: where weights + cards and cards + predictions go (default weights/, reports/)
#   MODELS_ONLY=1: stop after the ensemble, before the localiser and fusion (what `make rebuild-check` uses;
#   a fused shipped ensemble is then compared by its figures before fusion)
#   The defaults are the recipe chosen on shifted val (issue 14, reports/augmentation_trial.json, "artefact50"):
#   SHIFT_SHARE: share of cached train views that also get a random shift of core.data.shifts (default 0.5)
#   SHIFT_MAX_LEVEL: which levels of each shift those draw from (1 mild, 2 up to the middle, 3 all; default 2)
#   SHIFT_NAMES: comma-separated shifts those draw from (default: the nine artefacts below; empty = whole catalogue)
#   PATIENCE: epochs without a val AUC gain before a member stops early (default 15: all 15 epochs)
#   VIEWS: cached augmented views of the train split (default 6); EPOCHS: epochs of each member (default 15)
#   LOCALIZER_EPOCHS (default 10), ORIENTATION_TURNS: quarter turns of each train radiograph the orientation
#   check fits on (default 4), GATE_CANDIDATES: the gate's candidate feature sets and heads (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
export PYTHONPATH=.
WORK=${WORK:-runs/train_all}
OUT_WEIGHTS=${OUT_WEIGHTS:-weights}
OUT_REPORTS=${OUT_REPORTS:-reports}
rm -rf "$WORK"
mkdir -p "$OUT_WEIGHTS" "$OUT_REPORTS"
ARTEFACTS=zoom,border,jpeg,window,noise,blur,markers,text,tilt_grey
COMMON=(--epochs "${EPOCHS:-15}" --views "${VIEWS:-6}" --shift-share "${SHIFT_SHARE:-0.5}" --shift-max-level "${SHIFT_MAX_LEVEL:-2}"
        --shift-names "${SHIFT_NAMES-$ARTEFACTS}" --batch 64 --lr 1e-3 --patience "${PATIENCE:-15}" --budget-min 40 --out "$OUT_WEIGHTS"
        --reports "$OUT_REPORTS" --cache-dir "$WORK/cache" --seed 0 --threads 2)
start=$(date +%s)
for model in efficientnet_lite0 mobilenet_v2; do
  $PY -m core.train --model "$model" "${COMMON[@]}" --run-dir "$WORK/$model"
done
if [[ "${MODELS_ONLY:-0}" == 1 ]]; then
  FRACTURE_WEIGHTS_DIR="$OUT_WEIGHTS" FRACTURE_REPORTS_DIR="$OUT_REPORTS" \
    $PY -m core.ensemble.fit --members efficientnet_lite0 mobilenet_v2
  minutes=$(( ($(date +%s) - start) / 60 ))
  echo "models rebuilt in $minutes min on $(nproc) cores"
  echo "$minutes" > "$WORK/minutes"
  exit 0
fi
# Turned radiographs are turned upright before the models read them: the check reads efficientnet_lite0's activations.
$PY -m core.training.orientation_fit --weights "$OUT_WEIGHTS" --out "$OUT_WEIGHTS" --reports "$OUT_REPORTS" \
  --cache-dir "$WORK/orientation" --seed 0 --threads 2 --train-turns "${ORIENTATION_TURNS:-4}"
# Fixed epochs (not a wall-clock stop), so the localiser is the same on a slower or faster machine; the
# budget is only a safety net.
$PY -m core.training.localizer_fit --trunk "$OUT_WEIGHTS/efficientnet_lite0.json" --out "$OUT_WEIGHTS" \
  --reports "$OUT_REPORTS" --run-dir "$WORK/localizer" --cache-dir "$WORK/cache" --seed 0 --threads 2 \
  --epochs "${LOCALIZER_EPOCHS:-10}" --budget-min 60
# The localiser's top box score joins the verdict when val says it pays (reports/localizer_fusion.json).
FRACTURE_WEIGHTS_DIR="$OUT_WEIGHTS" FRACTURE_REPORTS_DIR="$OUT_REPORTS" \
  $PY -m core.ensemble.fit --members efficientnet_lite0 mobilenet_v2 --box-fusion auto --weights-dir "$OUT_WEIGHTS"
# --no-cache: the gate embeds its pictures afresh, as on a new machine (.cache/scope is not reused).
# GATE_CANDIDATES: e.g. "--feature-sets stem+deep --heads logistic-C0.1 logistic-C0.3" (default: every candidate)
# shellcheck disable=SC2086
$PY -m core.training.scope_fit --out "$OUT_WEIGHTS" --reports "$OUT_REPORTS" --no-cache ${GATE_CANDIDATES:-}
minutes=$(( ($(date +%s) - start) / 60 ))
recipe="EPOCHS=${EPOCHS:-15} VIEWS=${VIEWS:-6} LOCALIZER_EPOCHS=${LOCALIZER_EPOCHS:-10} ORIENTATION_TURNS=${ORIENTATION_TURNS:-4}"
recipe="$recipe GATE_CANDIDATES=${GATE_CANDIDATES:-all}"
printf '{"minutes": %d, "cores": %d, "cpu": "%s", "finished": "%s", "what": "%s", "recipe": "%s"}\n' "$minutes" "$(nproc)" \
  "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)" "$(date -Is)" \
  "classifiers, ensemble, localiser and out-of-scope gate, from an empty activation cache" "$recipe" \
  > "$OUT_REPORTS/train_all_time.json"
if [[ "$OUT_WEIGHTS" != weights ]]; then
  echo "train-all wall time: $minutes min on $(nproc) cores (built into $OUT_WEIGHTS; pointing, bench and RESULTS skipped)"
  exit 0
fi
$PY -m core.evaluation.pointing
$PY -m core.evaluation.bench
$PY -m core.evaluation.results
echo "train-all wall time: $minutes min on $(nproc) cores (the build; pointing, bench and RESULTS after it)"
echo "then measure robustness: make robustness ARGS='--levels all --other-levels-limit 100 --seed 0 --bootstrap 200 --batch 16'"
echo "(make robustness also refits the image-quality check, which quotes it), and make localizer-robustness, then make results"
