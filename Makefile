# make study : create .venv, install, run the default study (MNIST + CIFAR-10, quick preset)
# make test  : create .venv, install, run the test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PRESET ?= quick
DATASETS ?= mnist cifar10
# Where `make study` and `make bench` write their tables and figures. The committed results
# in figures/ change only on purpose: `make results`, or FIGURES=figures.
FIGURES ?= runs/figures

.PHONY: study test smoke bench lab clean-artefacts results report

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

study: $(VENV)/.installed
	$(PY) -m advsal.runner --datasets $(DATASETS) --preset $(PRESET) --figures-dir $(FIGURES)

# The committed quick-preset results (README, "Results"): MNIST and CIFAR-10 at three seeds
# (seed 0 runs every notebook, seeds 1 and 2 those of the across-seed tables), then the
# protocol variants at seed 0. Resumable: stages are cached under artefacts/. Writes the
# committed figures/, so it needs a clean git tree (the runner checks).
results: $(VENV)/.installed
	$(PY) -m advsal.runner --datasets mnist --preset quick --seeds 0 1 2 --seed-only 01 02 04 06 08 \
		--figures-dir figures
	$(PY) -m advsal.runner --datasets cifar10 --preset quick --seeds 0 1 2 --seed-only 01 02 04 06 \
		--figures-dir figures
	$(PY) -m advsal.variants --datasets mnist cifar10
	$(PY) -m advsal.attack_quality --dataset mnist --figures-dir figures
	$(PY) -m advsal.attack_quality --dataset cifar10 --float-judged --figures-dir figures

smoke: $(VENV)/.installed
	$(PY) -m advsal.runner --datasets $(DATASETS) --preset smoke --output runs-smoke \
		--artefact-dir artefacts-smoke --figures-dir runs-smoke/figures

test: $(VENV)/.installed
	$(PY) -m pytest -q --durations=25 -n 2 --dist loadfile tests

lab: $(VENV)/.installed
	$(VENV)/bin/jupyter lab notebooks

clean-artefacts:
	rm -rf artefacts artefacts-smoke runs runs-smoke

bench: $(VENV)/.installed
	$(PY) -m advsal.bench --figures-dir $(FIGURES)

# The executed notebooks of `make study` (runs/<preset>/<dataset>/) and its tables and figures
# as one browsable HTML page: runs/report/index.html
report: $(VENV)/.installed
	$(PY) -m advsal.report --runs runs --figures $(FIGURES) --out runs/report
