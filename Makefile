# Quick start: `make run` (set up + start the dashboard), `make test` (set up + run the tests).
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
MODEL  ?= efficientnet_lite0
FRACATLAS_DIR ?= $(abspath ../shared/data/fracatlas)
export PYTHONPATH := $(CURDIR)

.PHONY: setup run test train train-localizer evaluate-localizer localizer-scales localizer-robustness orientation train-all train-others ship select ensemble evaluate pointing robustness quality scope results bench pacs-demo pacs-throughput clean-cache

setup: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	@command -v $(PYTHON) >/dev/null || { echo "needs $(PYTHON) (Python 3.11)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q -r requirements-dev.txt
	touch $(STAMP)

run: setup
	$(BIN)/streamlit run dashboard/app.py --server.address 127.0.0.1 --server.port 8501 \
		--browser.gatherUsageStats false

# Layers (import-linter contracts in pyproject.toml), lint, then the whole suite.
test: setup
	$(BIN)/lint-imports
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q tests

# One model, e.g. `make train MODEL=vgg16`; its card and predictions land in reports/.
train: setup
	$(BIN)/python -m core.train --model $(MODEL) $(ARGS)

# The fracture localiser on the train split's radiologist boxes (weights/localizer.*, reports/localizer.json);
# its trunk is the shipped efficientnet_lite0, so train that first. About 30 minutes on 2 cores.
train-localizer: setup
	$(BIN)/python -m core.training.localizer_fit $(ARGS)
	$(BIN)/python -m core.ensemble.fit --box-fusion auto

# Re-measure the shipped localiser from its stored val/test boxes (thresholds on val; AP50, FROC, pointing,
# per region) and whether its top-box score adds to the verdict on val (reports/localizer_fusion.json); and the
# localiser under every shift of the catalogue (reports/localizer_robustness.json).
evaluate-localizer: setup
	$(BIN)/python -m core.evaluation.localization
	$(BIN)/python -m core.ensemble.fusion

# Whether reading the shipped localiser at 448 px too (boxes fused) pays on val; box thresholds refitted on val,
# test measured once, its card and box files rewritten, its weights untouched (the fit makes this choice itself).
localizer-scales: setup
	$(BIN)/python -m core.training.localizer_scales $(ARGS)

localizer-robustness: setup
	$(BIN)/python -m core.evaluation.localizer_robustness $(ARGS)

# The orientation check (weights/orientation.*, reports/orientation.json): turned radiographs are turned upright
# before the models read them. It reads efficientnet_lite0's activations, so refit it after that model. ~10 min.
orientation: setup
	$(BIN)/python -m core.training.orientation_fit $(ARGS)

# Rebuild every shipped model, then the ensemble and the results table (see reports/RESULTS.md).
train-all: setup
	bash scripts/train_all.sh

# Rebuild the shipped models from an empty cache into runs/rebuild/ and compare them with the shipped
# cards (reports/rebuild_check.json); weights/ is not touched. About 55 minutes on 2 cores.
rebuild-check: setup
	bash scripts/rebuild_check.sh

# How much each operating-point rule moves between bootstrap resamples of val (val only).
operating-points: setup
	$(BIN)/python -m core.training.operating_points ensemble efficientnet_lite0 mobilenet_v2

# The five registry models outside the shipped ensemble, with their card's recipe, e.g.
# `make train-others MODELS=vgg16` (all five when MODELS is empty).
train-others: setup
	bash scripts/train_others.sh $(MODELS)

# Copy trained models into weights/ (size budget checked), e.g. `make ship MODELS="vgg16"`.
ship: setup
	$(BIN)/python -m core.training.ship $(MODELS)

# Rank candidate member sets on val (reports/ensemble_selection.csv); test is never read.
select: setup
	$(BIN)/python -m core.ensemble.selection

ensemble: setup
	$(BIN)/python -m core.ensemble.fit

evaluate: setup
	$(BIN)/python -m core.evaluate --weights weights --images $(FRACATLAS_DIR)/images \
		--labels $(FRACATLAS_DIR)/labels.csv --split test --out reports/eval_test.json

pointing: setup
	$(BIN)/python -m core.evaluation.pointing

# Every shipped model and the ensemble under the shift catalogue (reports/robustness.json), e.g.
# `make robustness ARGS="--levels middle --limit 100"`.
# The image-quality check quotes what the robustness suite measured, so it is refitted after it.
robustness: setup
	$(BIN)/python -m core.robustness $(ARGS)
	$(BIN)/python -m core.training.quality_fit

# The image-quality check (weights/quality.json, reports/quality.json): noisy or strongly compressed images get a
# caution quoting reports/robustness.json; about 5 minutes.
quality: setup
	$(BIN)/python -m core.training.quality_fit

scope: setup
	$(BIN)/python -m core.training.scope_fit

results: setup
	$(BIN)/python -m core.evaluation.results

bench: setup
	$(BIN)/python -m core.evaluation.bench $(if $(wildcard runs/models/*.json),--also runs/models)

# The PACS round trip in one command: a local Orthanc (apt-get install orthanc orthanc-dicomweb) with
# the bundled samples as DICOM, one `python -m core.pacs scan`, then the server stays up until Ctrl-C.
pacs-demo: setup
	$(BIN)/python scripts/pacs_demo.py $(ARGS)

# Instances per minute of `python -m core.pacs scan` on this machine (reports/pacs_throughput.json).
pacs-throughput: setup
	$(BIN)/python scripts/pacs_throughput.py $(ARGS)

clean-cache:
	rm -rf .cache runs
