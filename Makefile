# Set-up and everyday commands. `make demo` and `make test` work on a fresh machine:
# each creates .venv when missing and installs the project (editable, with test extras).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.mimir-installed
# torch and torchvision are installed first, pinned, so that pip takes the builds that
# lie on this machine's disk instead of downloading others.
TORCH := torch==2.14.1 torchvision==0.29.1

.PHONY: install demo test lint bench bench-training bench-ensemble fuzz clean

install: $(STAMP)

$(STAMP): pyproject.toml setup.py $(wildcard src/mimir/_kernels*.[ch])
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check $(TORCH)
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/mimir demo --out demo-output --overwrite

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

test: $(STAMP) lint
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py --write docs/benchmarks.md
	$(BIN)/python benchmarks/report_bench.py --write docs/benchmarks-report.md \
		--screenshot docs/report-cohort.png

# bf16 against fp32 training on this machine's CPU: loss curves and speed (about 7 min)
bench-training: $(STAMP)
	$(BIN)/python benchmarks/bf16_training.py --write docs/training-bf16.md

# the CPU cost of ensemble members and of saliency maps (about 5 min):
# tables in docs/ensembles.md and docs/explain.md
bench-ensemble: $(STAMP)
	$(BIN)/python benchmarks/ensemble_explain.py --write-ensembles docs/ensembles.md \
		--write-explain docs/explain.md

# 10,000 seed-driven mutations of phantom zips on 2 worker processes; the counts, time,
# peak memory and CPU go into docs/reliability.md (make test runs 300 of them).
FUZZ_CASES ?= 10000
fuzz: $(STAMP)
	$(BIN)/python benchmarks/fuzz.py --cases $(FUZZ_CASES) --workers 2 \
		--write docs/reliability.md --command "make fuzz"

clean:
	rm -rf build dist src/*.egg-info .pytest_cache
