# CSBSR crack inspection for QGIS.
#   make demo    install what is missing, then run the main job on the shipped sample
#   make test    install what is missing, then run every test
# Set-up follows ../shared/env/RECIPE.md: QGIS 3.22 from Debian, one venv made by Debian's
# /usr/bin/python3 with --system-site-packages, exact pins in requirements/dev.lock.txt
# (generated from pyproject.toml's [project] dependencies by `make lock`).
SHELL       := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
VENV        ?= .venv
PY          := $(VENV)/bin/python
SYS_PY      := /usr/bin/python3
APT_PKGS    := qgis python3-qgis qgis-providers python3-venv python3-pip xvfb xauth poppler-utils
LOCK        := requirements/dev.lock.txt
PIP_FLAGS   := --disable-pip-version-check
# CPU wheel unless the machine has an NVIDIA driver: then the CUDA build of the same torch version
# (override with `make setup TORCH_SPEC=...`, e.g. a pinned CUDA wheel index; see README).
TORCH_VERSION := 2.13.0
TORCH_SPEC  ?= $(shell if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then echo "torch==$(TORCH_VERSION)"; else echo "torch==$(TORCH_VERSION)+cpu"; fi)
OUT         ?= build/demo
export DEBIAN_FRONTEND := noninteractive
export QT_QPA_PLATFORM ?= offscreen
# Never point the wheels' PROJ/GDAL at Debian's data (or vice versa): each lib finds its own.
unexport PROJ_LIB PROJ_DATA GDAL_DATA GDAL_DRIVER_PATH

.PHONY: setup apt venv check test test-all lint lock demo bench train fp sample model-info package deploy screenshot clean
setup: apt venv

apt:
	@missing=$$(for p in $(APT_PKGS); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then echo "apt: installing" $$missing; \
	  if [ "$$(id -u)" != 0 ]; then echo "apt: run 'sudo make apt' (root is needed for: $$missing)"; exit 1; fi; \
	  apt-get update -qq; apt-get install -y -qq --no-install-recommends $(APT_PKGS) >/dev/null; \
	else echo "apt: all present"; fi

venv: $(VENV)/.installed
$(VENV)/.installed: $(LOCK) pyproject.toml
	@test -x $(PY) || $(SYS_PY) -m venv --system-site-packages $(VENV)
	$(PY) -m pip install -q $(PIP_FLAGS) -r $(LOCK)
	@$(PY) -c "import torch" 2>/dev/null && echo "torch already installed: $$($(PY) -c 'import torch;print(torch.__version__)')" \
	  || $(PY) -m pip install -q $(PIP_FLAGS) "$(TORCH_SPEC)"
	$(PY) -m pip install -q $(PIP_FLAGS) --no-deps --no-build-isolation -e .
	@touch $@

check: setup
	$(PY) scripts/check_env.py qgis-first build/check-qgis-first
	$(PY) scripts/check_env.py wheels-first build/check-wheels-first

test: setup
	$(PY) -m pytest -m "not slow"

test-all: setup
	$(PY) -m pytest

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

# regenerate requirements/*.lock.txt from pyproject.toml (needs the package index)
lock:
	$(SYS_PY) scripts/lock.py --torch $(TORCH_VERSION)

demo: setup
	$(VENV)/bin/csbsr run resources/sample/sample_ortho.tif --out $(OUT) --overwrite
	$(PY) scripts/demo_check.py $(OUT)

bench: setup
	nice -n 10 $(PY) scripts/bench.py --out docs/performance.md

sample: setup
	$(PY) scripts/make_sample.py

model-info: setup
	$(VENV)/bin/csbsr model-info --config paper
	$(VENV)/bin/csbsr model-info --config lite

# Train the shipped default model (lite2) from scratch (CPU, about 60-120 min on 2 cores;
# resumes runs/lite2), evaluate it, calibrate its threshold and install it in
# resources/models/; the ablation table: scripts/ablation.py (docs/results.md)
train: setup
	$(PY) scripts/train_default.py --run runs/lite2

# false crack length per m² of crack-free content, shipped v2 vs v1 (docs/fp_density.md; ~30 min)
fp: setup
	nice -n 10 $(PY) scripts/fp_density.py --out docs/fp_density.md

# QGIS plugin: installable zip (one top folder `csbsr`), dev symlink into a profile, screenshot
QGIS_PROFILE ?= default
QGIS_PLUGINS ?= $(HOME)/.local/share/QGIS/QGIS3/profiles/$(QGIS_PROFILE)/python/plugins
package:
	$(SYS_PY) scripts/package.py

deploy:
	mkdir -p "$(QGIS_PLUGINS)"
	ln -sfn "$(CURDIR)" "$(QGIS_PLUGINS)/csbsr"
	@echo "linked $(QGIS_PLUGINS)/csbsr -> $(CURDIR); enable 'CSBSR Crack Inspection' in Plugins > Manage"

# the real QGIS desktop under Xvfb: the dock, the attribute table, the report link (docs/screenshots)
screenshot: setup
	xvfb-run -a -s "-screen 0 1600x1000x24" env -u QT_QPA_PLATFORM CSBSR_ENGINE=$(CURDIR)/$(VENV)/bin/csbsr $(PY) scripts/screenshot.py docs/screenshots

clean:
	rm -rf $(VENV) build dist
