# prognos — every command installs what it needs into .venv first (idempotent, quick when nothing changed).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

DATA_DIR ?=
MODEL ?=
EPOCHS ?=
CONFIG ?=
RUN ?= artifacts/$(if $(DATA_DIR),$(notdir $(abspath $(DATA_DIR)))-$(or $(MODEL),lstm),demo$(if $(MODEL),-$(MODEL)))
VARIANT ?=
FORMATS ?= $(VARIANT)
BUDGET ?= 0.5
PREFER ?= fastest
TARGET ?=
REUSE ?=
TUNE_EPOCHS ?=
TEST_ARGS ?=
BUNDLE ?= $(RUN)/bundles/tflite_int8
ROWS ?= 1000000
DEVICE ?=
EDGE_CONFIG ?=
MODELS ?=
THREADS ?=
MIN_SECONDS ?=

TRAIN_FLAGS = --run $(RUN) $(if $(MODEL),--model $(MODEL)) $(if $(DATA_DIR),--data-dir $(DATA_DIR)) \
	$(if $(EPOCHS),--epochs $(EPOCHS)) $(if $(CONFIG),--config $(CONFIG))
# the export-table commands (one per `group` of export/formats.py) share these flags
EXPORT_FLAGS = --run $(RUN) $(if $(FORMATS),--formats $(FORMATS)) $(if $(TUNE_EPOCHS),--tune-epochs $(TUNE_EPOCHS))

.PHONY: help venv demo test lint docs tensorboard test-slow edge-fixtures test-edge train export quantize prune cluster qat optimize \
	bench profile report evaluate \
	simulate formats clean edge-bench soak deploy zoo-report mcu

help:  ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 14

# two distributions in one namespace: prognos-edge (edge_runtime/, what a device installs) and prognos
# One install at a time: two makes started together (say `make rul` for two fleets) would both see a
# stale stamp and run pip into the same .venv; the second waits for the first (a mkdir lock, no flock
# needed) and then finds the stamp fresh. A lock left by a killed make: remove .venv.lock.
$(STAMP): pyproject.toml edge_runtime/pyproject.toml
	@got=; for i in $$(seq 120); do if mkdir $(VENV).lock 2>/dev/null; then got=1; break; fi; \
		[ $$i = 1 ] && echo "[make] another make is installing $(VENV); waiting (stale lock? rm -r $(VENV).lock)"; \
		sleep 5; done; \
	[ -n "$$got" ] || { echo "[make] $(VENV).lock held for 10 min; remove it if no make is running"; exit 1; }; \
	trap 'rmdir $(VENV).lock' EXIT; \
	if [ $@ -nt pyproject.toml ] && [ $@ -nt edge_runtime/pyproject.toml ]; then exit 0; fi; \
	set -e; test -x $(BIN)/python || $(PYTHON) -m venv $(VENV); \
	echo "[make] installing prognos-edge and prognos[train,dev,mlflow] into $(VENV)"; \
	$(BIN)/python -m pip install --quiet --upgrade pip; \
	$(BIN)/python -m pip install --quiet -e ./edge_runtime -e ".[train,dev,mlflow]"; \
	touch $@

venv: $(STAMP)  ## create .venv and install prognos-edge + prognos[train,dev,mlflow] (editable)

demo: $(STAMP)  ## main job: simulate -> train -> quantize -> export -> bench (embedded default)
	$(BIN)/prognos demo $(TRAIN_FLAGS)

# Two pytest workers (pytest-xdist), each test file on one worker (module fixtures built once): the suite
# spends much of its time in one-threaded Python and in subprocesses, so two workers on two cores take
# ~10 instead of ~14-18 minutes (fresh clone, 2 cores). TEST_WORKERS=0 runs it in this process.
TEST_WORKERS ?= 2
test: $(STAMP)  ## fast test suite (CI) [TEST_WORKERS=2]
	$(BIN)/python -m pytest -q $(if $(filter-out 0,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist loadfile) $(TEST_ARGS)

EDGE_FIXTURES ?= artifacts/edge-fixtures
EDGE_VERSIONS ?= 3.10 3.11 3.12 3.13
edge-fixtures: $(STAMP)  ## tiny fleet + trained run + bundles for the edge tests -> EDGE_FIXTURES
	rm -rf $(EDGE_FIXTURES)
	$(BIN)/python -m tests.edge_fixtures $(EDGE_FIXTURES)

# REUSE_FIXTURES=1: EDGE_FIXTURES already holds them (.ci/run: `make test` wrote them, PROGNOS_WRITE_EDGE_FIXTURES)
test-edge: $(if $(REUSE_FIXTURES),$(STAMP),edge-fixtures)  ## wheels on PyPI for every device Python + the edge tests on each of EDGE_VERSIONS (CI)
	$(BIN)/python -m pytest -q -m registry $(TEST_ARGS)
	.ci/edge-pythons $(EDGE_FIXTURES) $(EDGE_VERSIONS)

lint: $(STAMP)  ## ruff: lint (short rule set in pyproject.toml) and format check
	$(BIN)/ruff check pipeline models export edge_runtime tests
	$(BIN)/ruff format --check pipeline models export edge_runtime tests

test-slow: $(STAMP)  ## slow cases only
	$(BIN)/python -m pytest -q -m slow $(TEST_ARGS)

simulate: $(STAMP)  ## write a simulated fleet to artifacts/sim-data
	$(BIN)/prognos simulate --out artifacts/sim-data

.PHONY: simulate-fleet data-card
simulate-fleet: $(STAMP)  ## write a simulated pump fleet CSV (timestamps, regimes, censored assets) + schema.toml to artifacts/fleet-data
	$(BIN)/prognos simulate-fleet --out artifacts/fleet-data

data-card: $(STAMP)  ## data card of DATA_DIR [SCHEMA=file] before training -> RUN/data_card.json (docs/own-data.md)
	$(if $(DATA_DIR),,$(error make data-card needs DATA_DIR=folder (e.g. artifacts/fleet-data after make simulate-fleet)))
	$(BIN)/prognos data-card --data-dir $(DATA_DIR) $(if $(SCHEMA),--schema $(SCHEMA)) --out $(RUN)

train: $(STAMP)  ## train MODEL on DATA_DIR (default: simulator) into RUN
	$(BIN)/prognos train $(TRAIN_FLAGS)

# the export-table targets train RUN first when it has no model yet (`make optimize MODEL=cnn1d` from a fresh clone)
$(RUN)/model.keras: | $(STAMP)
	$(BIN)/prognos train $(TRAIN_FLAGS)

export: $(STAMP) $(RUN)/model.keras  ## fp32 TFLite + ONNX bundles of RUN (or VARIANT=a,b from `make formats`), parity report
	$(BIN)/prognos $@ $(EXPORT_FLAGS)

quantize: $(STAMP) $(RUN)/model.keras  ## post-training quantized bundles (int8, dynamic, fp16, 16x8, ONNX int8) of RUN
	$(BIN)/prognos $@ $(EXPORT_FLAGS)

prune: $(STAMP) $(RUN)/model.keras  ## magnitude-pruned int8 bundles of RUN (fine-tunes; TUNE_EPOCHS=…)
	$(BIN)/prognos $@ $(EXPORT_FLAGS)

cluster: $(STAMP) $(RUN)/model.keras  ## weight-clustered int8 bundles of RUN (fine-tunes)
	$(BIN)/prognos $@ $(EXPORT_FLAGS)

qat: $(STAMP) $(RUN)/model.keras  ## quantization-aware trained int8 bundles of RUN (QAT, prune- and cluster-preserving)
	$(BIN)/prognos $@ $(EXPORT_FLAGS)

optimize: $(STAMP) $(RUN)/model.keras  ## all variants; fastest (PREFER=smallest) within BUDGET RMSE (TARGET=cortex-m4: only what fits) -> RUN/bundles/best
	$(BIN)/prognos optimize $(EXPORT_FLAGS) --budget $(BUDGET) --prefer $(PREFER) $(if $(REUSE),--reuse) \
		$(if $(TARGET),--target $(TARGET))

zoo-report: $(STAMP)  ## every registered model: params, MACs, sizes, prune/QAT/int8/ONNX status, latency -> artifacts/zoo
	$(BIN)/prognos zoo-report $(if $(MODELS),--models $(MODELS))

bench: $(STAMP)  ## matrix of RUN (or MODELS=a,b: artifacts/demo-<m>) x FORMATS x THREADS -> RUN/report/bench.md
	$(BIN)/prognos bench $(if $(MODELS),--models $(MODELS),--run $(RUN)) $(if $(FORMATS),--formats $(FORMATS)) \
		$(if $(THREADS),--threads $(THREADS)) $(if $(MIN_SECONDS),--min-seconds $(MIN_SECONDS))

profile: $(STAMP)  ## LiteRT per-op profile of BUNDLE (which ops dominate) -> RUN/report/profile.json
	$(BIN)/prognos profile --run $(RUN) --bundle $(BUNDLE)

report: $(STAMP)  ## self-contained HTML report of RUN (plots, bench table, op profile, model card) -> RUN/report/index.html
	$(BIN)/prognos report --run $(RUN)

evaluate: $(STAMP)  ## last-window RUL of TEST units with BUNDLE (or RUN's Keras model); RMSE if RUL=file
	$(BIN)/prognos evaluate --test $(TEST) $(if $(RUL),--rul $(RUL)) $(if $(BUNDLE),--bundle $(BUNDLE),--run $(RUN))

formats: $(STAMP)  ## list the export table
	$(BIN)/prognos formats

edge-bench: $(STAMP)  ## on-device latency of BUNDLE: load, invoke, row->JSON p50/p99, throughput, RSS
	$(BIN)/prognos-edge bench --bundle $(BUNDLE)

soak: $(STAMP)  ## ROWS rows (default 10^6) with 1 % faults through BUNDLE: RSS over time, rejections counted
	$(BIN)/prognos-edge soak --bundle $(BUNDLE) --rows $(ROWS) --malformed 0.01

deploy: $(STAMP)  ## package BUNDLE (+ EDGE_CONFIG, TRUST=public key files) and install it on DEVICE (a folder or ssh://user@host[:port]/path)
	@test -n "$(DEVICE)" || { echo "usage: make deploy DEVICE=/path/or/ssh://user@host[:port]/path BUNDLE=dir TRUST=keys/signing.pub"; exit 2; }
	$(BIN)/prognos-edge deploy --device $(DEVICE) --bundle $(BUNDLE) $(if $(EDGE_CONFIG),--config $(EDGE_CONFIG)) $(foreach k,$(TRUST),--trust $(k))

tensorboard: $(STAMP)  ## TensorBoard on RUN's logs (RUN/tb: every fit of train, cv, final, vibration) at :6006
	$(BIN)/tensorboard --logdir $(RUN) --port 6006

MCU_OUT ?= $(RUN)/mcu
# the fused int8 LSTM is the microcontroller layout (docs/mcu.md), so it is the default here unless BUNDLE is given
MCU_BUNDLE = $(if $(filter command line environment,$(origin BUNDLE)),$(BUNDLE),$(RUN)/bundles/tflite_int8_fused)
mcu: $(STAMP)  ## BUNDLE (default RUN's tflite_int8_fused) as C for TensorFlow Lite Micro on TARGET (default cortex-m4) -> MCU_OUT
	$(BIN)/prognos mcu --bundle $(MCU_BUNDLE) --target $(or $(TARGET),cortex-m4) --out $(MCU_OUT)

DOC_RUNS ?= $(wildcard artifacts/demo artifacts/fd001 artifacts/fd001-fast artifacts/rul-FD002 artifacts/rul-FD004 artifacts/zoo artifacts/search-fd001)
docs: $(STAMP)  ## regenerate docs/results/*.md and docs/zoo.md from the result JSON of DOC_RUNS (the runs that exist)
	$(BIN)/prognos docs $(DOC_RUNS)

clean:  ## remove artifacts (keeps .venv)
	rm -rf artifacts

# Training at scale (pipeline/scale/): see `prognos train --help` for --strategy.
WORKERS ?= 2
UNITS ?= 10000
.PHONY: train-multiworker scale

train-multiworker: $(STAMP)  ## train RUN on WORKERS local processes (MultiWorkerMirroredStrategy, TF_CONFIG)
	$(BIN)/python -m prognos.pipeline.scale.multiworker --workers $(WORKERS) -- train $(TRAIN_FLAGS)

scale: $(STAMP)  ## stream a simulated fleet of UNITS engines through tf.data: windows/s, peak RSS
	$(BIN)/prognos scale --units $(UNITS)

# Vibration use case (pipeline/vibration/): bearing fault classification, DSP shared with the device.
VIB_RUN ?= artifacts/$(if $(DATA_DIR),$(notdir $(abspath $(DATA_DIR)))-vibration,vibration-demo)
VIB_FLAGS = $(if $(MODEL),--model $(MODEL)) $(if $(EPOCHS),--epochs $(EPOCHS)) $(if $(PATIENCE),--patience $(PATIENCE)) \
	$(if $(CLASSES),--classes $(CLASSES)) $(if $(LOADS),--loads $(LOADS)) $(if $(TEST_LOADS),--test-loads $(TEST_LOADS))
VIB_MODELS ?= lenet mobilenet_v1 mobilenet_v2 efficientnet_b0
VIB_TRAIN_LOADS := 0,1  # 2 and 3 HP are held back: never trained, tuned or selected on
.PHONY: demo-vibration train-vibration vibration-models anomaly-vibration gan-vibration vibration-transfer

demo-vibration: $(STAMP)  ## simulator -> train -> int8 bundles (classify + anomaly) -> `prognos-edge classify` / `anomaly` on a new IR014 recording -> `serve` over MQTT (alert on a fault, cleared after repair)
	$(BIN)/prognos vibration --run $(VIB_RUN) $(VIB_FLAGS)
	$(BIN)/prognos vibration-sim --class IR014 --seed 1 --seconds 5 --out $(VIB_RUN)/demo_IR014.npy
	$(BIN)/prognos-edge classify --bundle $(VIB_RUN)/bundles/tflite_int8 --input $(VIB_RUN)/demo_IR014.npy \
		--expect IR014 > $(VIB_RUN)/demo_IR014.jsonl
	@tail -1 $(VIB_RUN)/demo_IR014.jsonl
	$(BIN)/prognos vibration-anomaly --run $(VIB_RUN)/anomaly --epochs 20 > $(VIB_RUN)/anomaly.json
	$(BIN)/prognos-edge anomaly --bundle $(VIB_RUN)/anomaly/anomaly_bundles/tflite_int8 \
		--input $(VIB_RUN)/demo_IR014.npy > $(VIB_RUN)/demo_IR014_anomaly.jsonl
	@tail -1 $(VIB_RUN)/demo_IR014_anomaly.jsonl
	$(BIN)/prognos vibration-serve-demo --bundle $(VIB_RUN)/bundles/tflite_int8 --out $(VIB_RUN)/service \
		$(if $(MQTT_PORT),--port $(MQTT_PORT))

train-vibration: $(STAMP)  ## train the vibration classifier on CWRU .mat files in DATA_DIR into VIB_RUN (MODEL, CLASSES=4, LOADS, TEST_LOADS)
	@test -n "$(DATA_DIR)" || { echo "usage: make train-vibration DATA_DIR=../shared/data/cwru"; exit 2; }
	$(BIN)/prognos vibration --run $(VIB_RUN) --data-dir $(DATA_DIR) $(VIB_FLAGS)

vibration-models: $(STAMP)  ## every spectrogram model of VIB_MODELS on DATA_DIR loads 0-1 (fp32 + int8 bundles), 40 epochs, patience 10
	@test -n "$(DATA_DIR)" || { echo "usage: make vibration-models DATA_DIR=../shared/data/cwru"; exit 2; }
	for m in $(VIB_MODELS); do $(BIN)/prognos vibration --run artifacts/cwru-$$m --data-dir $(DATA_DIR) --loads $(VIB_TRAIN_LOADS) \
		--model $$m --epochs 40 --patience 10 || exit 1; done

anomaly-vibration: $(STAMP)  ## dense autoencoder and VAE on healthy windows (DATA_DIR or simulator): AUC, confusion, anomaly bundles
	for m in dense_ae vae; do $(BIN)/prognos vibration-anomaly --run $(VIB_RUN)-anomaly-$$m \
		$(if $(DATA_DIR),--data-dir $(DATA_DIR)) --model $$m || exit 1; done

gan-vibration: $(STAMP)  ## GAN augmentation experiment: 5 % of the ball-fault windows, without / oversampled / with cGAN windows
	$(BIN)/prognos vibration-gan --run $(VIB_RUN)-gan $(if $(DATA_DIR),--data-dir $(DATA_DIR) --loads $(VIB_TRAIN_LOADS))

vibration-transfer: $(STAMP)  ## fault type across bearings: fault-order MLP trained on simulated 6205, scored on 6203; DATA_DIR: CWRU fault sizes held back in turn
	$(BIN)/prognos vibration-transfer --run $(VIB_RUN)-transfer $(if $(DATA_DIR),--data-dir $(DATA_DIR) --loads $(VIB_TRAIN_LOADS))

# FD001 accuracy (pipeline/rul/: cv, search, ensemble, final); candidates in configs/sweeps/fd001.toml.
SWEEP := configs/sweeps/fd001.toml
null :=
space := $(null) $(null)
comma := ,
only = --only $(subst $(space),$(comma),$(strip $(1)))
FD001_CHOSEN ?= lstm_w50_warp4_mix4_e2_age lstm32_w50_warp4_mix4_e3_age cnn1d_li_w50_warp_e13_age
FD001_PREVIOUS ?= lstm_w50_warp4_e2 lstm32_w50_warp4_e5 cnn1d_li_w50_warp_e13
FD001_SEARCH ?= artifacts/search-fd001
.PHONY: fd001 fd001-fast fd001-search fd001-search-quick fd001-check-split

fd001-search: $(STAMP)  ## 5-fold CV of every candidate of SWEEP (SEEDS=1,2 adds seed copies) -> FD001_SEARCH/search.md (done candidates reused)
	$(BIN)/prognos search $(SWEEP) --out $(FD001_SEARCH) --folds 5 $(if $(SEEDS),--seeds $(SEEDS))

fd001-search-quick: $(STAMP)  ## the search's quick version: FD001_CHOSEN, 3 folds, 1 epoch each (of 3-9x warped and mixed engines) -> artifacts/search-quick
	$(BIN)/prognos search $(SWEEP) $(call only,$(FD001_CHOSEN)) --out artifacts/search-quick --folds 3 --epochs 1
	$(BIN)/prognos ensemble $(foreach c,$(FD001_CHOSEN),artifacts/search-quick/$(c))

fd001-check-split: $(STAMP)  ## FD001_CHOSEN and FD001_PREVIOUS on a second fold split (data.seed 1: other folds and cuts) -> artifacts/fd001-split1
	$(BIN)/prognos search $(SWEEP) $(call only,$(FD001_CHOSEN) $(FD001_PREVIOUS)) --out artifacts/fd001-split1 --folds 5 --split-seed 1
	$(BIN)/prognos ensemble $(foreach c,$(FD001_CHOSEN),artifacts/fd001-split1/$(c)) --out artifacts/fd001-split1/chosen.json > /dev/null
	$(BIN)/prognos ensemble $(foreach c,$(FD001_PREVIOUS),artifacts/fd001-split1/$(c)) --out artifacts/fd001-split1/previous.json > /dev/null

fd001: $(STAMP)  ## the `make rul` recipe on FD001 (C-MAPSS preset) -> artifacts/fd001/recipe.json, bundles/best
	$(BIN)/prognos rul --data-dir ../shared/data/cmapss --run artifacts/fd001

# Speed first (docs/throughput.md): the same recipe with wider tolerances deploys its single LSTM 32 (CV 0.8
# RMSE worse, ~2.5x the rows/s). Same candidates, folds and seeds as make fd001, so its CV folders are reused.
fd001-fast: $(STAMP)  ## FD001 speed first: the recipe at RMSE_TOLERANCE=0.8 SCORE_TOLERANCE=0.1 -> artifacts/fd001-fast/bundles/best
	@if [ -d artifacts/fd001/cv ] && [ ! -d artifacts/fd001-fast/cv ]; then \
		mkdir -p artifacts/fd001-fast && cp -r artifacts/fd001/cv artifacts/fd001-fast/; fi
	$(BIN)/prognos rul --data-dir ../shared/data/cmapss --run artifacts/fd001-fast --rmse-tolerance 0.8 --score-tolerance 0.1

fd001-previous: $(STAMP)  ## the hand-picked FD001_CHOSEN: CV, retrain on all units, int8 bundle -> artifacts/fd001-previous/final.json
	$(BIN)/prognos search $(SWEEP) $(call only,$(FD001_CHOSEN)) --out artifacts/fd001-previous/cv --folds 5
	$(BIN)/prognos final $(foreach c,$(FD001_CHOSEN),artifacts/fd001-previous/cv/$(c)) --run artifacts/fd001-previous

# Any fleet (pipeline/rul/recipe.py, configs/recipe.toml; docs/rul-recipe.md).
SCHEMA ?=
SUBSET ?=
.PHONY: rul fd001-previous

rul: $(STAMP)  ## the whole recipe on DATA_DIR [SCHEMA= SUBSET= RUN= RMSE_TOLERANCE= SCORE_TOLERANCE=]: data card, CV, choice, final -> RUN/bundles/best
	@test -n "$(DATA_DIR)" || { echo "usage: make rul DATA_DIR=folder [SCHEMA=spec.toml] [SUBSET=FD002] [RUN=dir] [RMSE_TOLERANCE=0.1] [SCORE_TOLERANCE=0.05]"; exit 2; }
	$(BIN)/prognos rul --data-dir $(DATA_DIR) $(if $(SCHEMA),--schema $(SCHEMA)) $(if $(SUBSET),--subset $(SUBSET)) \
		$(if $(filter command line,$(origin RUN)),--run $(RUN)) $(if $(RMSE_TOLERANCE),--rmse-tolerance $(RMSE_TOLERANCE)) \
		$(if $(SCORE_TOLERANCE),--score-tolerance $(SCORE_TOLERANCE))

.PHONY: lecture
lecture: $(STAMP)  ## execute the lecture notebooks (docs/lecture/) headless in the .venv kernel; prints each one's time
	$(BIN)/python -m pytest -q tests/test_notebooks.py --durations=0
