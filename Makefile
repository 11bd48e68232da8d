# make study : create .venv, install, run the default study (MNIST + CIFAR-10, quick preset)
# make test  : create .venv, install, run the test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PRESET ?= quick
DATASETS ?= mnist cifar10

.PHONY: study test smoke bench lab clean-artefacts

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

study: $(VENV)/.installed
	$(PY) -m advsal.runner --datasets $(DATASETS) --preset $(PRESET)

smoke: $(VENV)/.installed
	$(PY) -m advsal.runner --datasets $(DATASETS) --preset smoke --output runs-smoke \
		--artefact-dir artefacts-smoke --figures-dir runs-smoke/figures

test: $(VENV)/.installed
	$(PY) -m pytest -q tests

lab: $(VENV)/.installed
	$(VENV)/bin/jupyter lab notebooks

clean-artefacts:
	rm -rf artefacts artefacts-smoke runs runs-smoke

bench: $(VENV)/.installed
	$(PY) -m advsal.bench
