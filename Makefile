# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install demo test lint bench bench-dedupe bench-screening clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# The flagship review (ketamine for chronic pain) and a second review built only from the
# bundled BCG vaccine trials (metadat's dat.bcg) as self-contained HTML reports, then the
# engine's worked example on the same trials.
demo: install
	@mkdir -p out
	$(BIN)/metareview report reviews/ketamine-chronic-pain \
		--out out/ketamine-chronic-pain/report.html
	$(BIN)/metareview report reviews/bcg-tuberculosis --out out/bcg-tuberculosis/report.html
	$(BIN)/metareview analyze src/metareview/data/bcg.csv --measure RR --method REML \
		--bias --plot out/forest.svg | tee out/summary.txt
	$(BIN)/metareview analyze src/metareview/data/bcg.csv --measure RR --method REML \
		--bias --json > out/summary.json
	$(BIN)/metareview analyze src/metareview/data/bcg.csv --measure RR --method REML \
		--subgroup alloc --plot out/forest-subgroups.svg > out/subgroups.txt
	$(BIN)/metareview analyze src/metareview/data/bcg.csv --measure RR --method REML \
		--mods ablat > out/metaregression.txt
	$(BIN)/python examples/bcg_diagnostics.py out
	@echo "Demo outputs are in out/"

lint: install
	$(BIN)/ruff check src tests bench examples

test: lint
	$(BIN)/python -m pytest

# Speed against metafor (Rscript, if installed), PyMARE and statsmodels; writes bench/RESULTS.md.
# `make bench BIG=1` adds the 10-million-analysis `metareview batch` run (minutes, 2 GB on disk).
bench: install
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	$(BIN)/python bench/bench_models.py
	$(BIN)/python bench/bench_batch.py $(if $(BIG),--big)

# De-duplication accuracy on a labelled set and speed on 100,000 records: bench/RESULTS-dedupe.md.
# bib-dedupe is measured too when installed as bench/bench_dedupe.py's docstring says.
bench-dedupe: install
	$(BIN)/python bench/bench_dedupe.py

# Active-learning screening against ASReview 3 (installed into bench/asreview.venv on first use)
# on ../shared/data/screening: bench/RESULTS-screening.md, about 20 minutes.
bench-screening: install
	$(BIN)/python bench/bench_screening.py

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache
