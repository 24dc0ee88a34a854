# The README's two commands are `make test` and `make repro`. Everything installs into .venv on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export MPLBACKEND := Agg
export PYTHONHASHSEED := 0
# pytest runs its tests in this many processes (pytest-xdist; the notebook smokes are mostly single-threaded), then the
# tests marked `serial` (speed comparisons, torchrun) one at a time
TEST_WORKERS ?= 2

.PHONY: install test repro docs lint bench lock clean-check export-check readme

install: $(VENV)/.installed

# torch==2.13.0 is pinned here (and in requirements-lock.txt): a CPU build from local disk on our
# machines, the CUDA build of the same release on a GPU machine.
$(VENV)/.installed: settings.ini setup.py requirements-lock.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c requirements-lock.txt "torch==2.13.0" -e ".[dev]"
	touch $@

clean-check: install
	@$(BIN)/nbdev_clean
	@git diff --quiet -- nbs || { git --no-pager diff --stat -- nbs; echo "FAIL: notebooks are not clean; run nbdev_clean and commit"; exit 1; }
	@echo "ok: notebooks are clean"

export-check: install
	@$(BIN)/nbdev_export
	@test -z "$$(git status --porcelain -- paper_repro)" || { git status --short -- paper_repro; echo "FAIL: paper_repro/ is out of sync with nbs/; run nbdev_export and commit"; exit 1; }
	@echo "ok: library in sync with notebooks"

test: install
	@start=$$(date +%s); \
	$(MAKE) --no-print-directory clean-check export-check && \
	echo "== nbdev_test" && $(BIN)/nbdev_test --n_workers 2 --timing && \
	echo "== pytest, $(TEST_WORKERS) processes" && \
	{ $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal -m "not serial" --durations 10 tests; rc=$$?; if [ $$rc -eq 5 ]; then echo "FAIL: pytest collected no tests"; fi; [ $$rc -eq 0 ]; } && \
	echo "== pytest, one process (timings, torchrun)" && \
	{ $(BIN)/python -m pytest -m serial --durations 5 tests; rc=$$?; if [ $$rc -eq 5 ]; then echo "FAIL: pytest collected no serial tests"; fi; [ $$rc -eq 0 ]; }; \
	rc=$$?; echo "make test: $$(( $$(date +%s) - start )) s in total (target <= 1200 s on 2 cores), exit $$rc"; exit $$rc

repro: install
	$(BIN)/paper-repro run --all --update-notebooks
	$(BIN)/paper-repro report

# paper-repro bench: the package's own benchmarks and notebook times (results/benchmarks.json); --reference adds the
# speed tests against the test-only peers (timm, torchvision, PyG), whose ratios go to results/benchmarks_reference.json.
bench: install
	$(BIN)/paper-repro bench --reference

lint: install
	$(BIN)/ruff check paper_repro tests

docs: install
	@command -v quarto >/dev/null || { echo "make docs needs quarto (not on PyPI/Debian): install it from https://quarto.org/docs/get-started/ and rerun"; exit 1; }
	$(BIN)/nbdev_docs

# Regenerate the lock after changing dependencies: the exact versions CI used.
lock: install
	{ head -1 requirements-lock.txt; $(BIN)/python -m pip freeze --exclude-editable | sed 's/^torch==\(.*\)+cpu$$/torch==\1/'; } > requirements-lock.tmp
	mv requirements-lock.tmp requirements-lock.txt

# README.md is index.ipynb rendered to markdown (nbdev_readme needs quarto); tests/test_notebooks.py checks they agree.
readme: install
	$(BIN)/jupyter nbconvert --to markdown --stdout nbs/index.ipynb > README.md
