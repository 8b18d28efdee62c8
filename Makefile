# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install demo test lint docs bench bench-engine bench-dedupe bench-screening bench-startup bench-web bench-multilevel clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,docs]'
	$(COMPILE)
	touch $(STAMP)

# Byte-code for src/ (an editable install has none, and with PYTHONDONTWRITEBYTECODE set
# Python never writes it, so every command would compile the package again: ~0.04 s). Stale
# files are ignored by Python, so this only matters for speed; the benchmarks run it first.
COMPILE = $(BIN)/python -m compileall -q src

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
	$(BIN)/ruff check src tests bench examples tools docs/examples

# On every core (pytest-xdist): the tests are independent (each store test has its own
# database, each browser test its own server).
test: lint
	$(BIN)/python -m pytest -n auto

# The documentation site into site/, offline: the docstring check, then MkDocs in strict mode
# (a broken reference or internal link fails), executing the notebooks in docs/examples/, then
# the links of the built pages (the notebooks' links included).
docs: install
	$(BIN)/python tools/check_docstrings.py
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site
	$(BIN)/python tools/check_site_links.py site

# Every benchmark, each against its peers in the same run, rewriting bench/RESULTS*.md:
# the engine against metafor (Rscript; skipped with a message when R is absent), PyMARE and
# statsmodels; de-duplication accuracy and scaling against bib-dedupe (installed into
# bench/peers); screening against ASReview 3 (installed into bench/asreview.venv), about 35
# minutes; start-up. `make bench BIG=1` adds the 10-million-analysis `metareview batch` run.
bench: install bench-engine bench-dedupe bench-screening bench-startup bench-web bench-multilevel

bench-engine: install
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	$(BIN)/python bench/bench_models.py
	$(BIN)/python bench/bench_batch.py $(if $(BIG),--big)

PEERS := bench/peers
$(PEERS)/.stamp: $(STAMP)
	$(BIN)/python -m pip install --quiet --target $(PEERS) --no-deps bib-dedupe==0.11.0 \
		number-parser requests urllib3 charset-normalizer idna certifi tqdm
	touch $@

# De-duplication accuracy on the labelled sets and scaling from 10,000 to 1,000,000 records.
bench-dedupe: install $(PEERS)/.stamp
	BIB_DEDUPE_PATH=$(PEERS) $(BIN)/python bench/bench_dedupe.py
	BIB_DEDUPE_PATH=$(PEERS) $(BIN)/python bench/bench_dedupe_scale.py

# Active-learning screening against ASReview 3 on ../shared/data/screening.
bench-screening: install
	$(COMPILE)
	$(BIN)/python bench/bench_screening.py

bench-startup: install
	$(COMPILE)
	$(BIN)/python bench/bench_startup.py

# The web app under load: 20 reviewers voting over HTTP at once on a throwaway PostgreSQL
# (Debian's package, as .ci/run starts it), about 15 minutes.
bench-web: install
	$(COMPILE)
	$(BIN)/python bench/bench_web.py

# Multilevel models (rma.mv) against metafor: batch speed, convergence on 10,000 datasets and
# one fit of k = 100,000, about 17 minutes (mostly R); `--quick` for a smaller run.
bench-multilevel: install
	$(COMPILE)
	$(BIN)/python bench/bench_multilevel.py

clean:
	rm -rf $(VENV) out site .pytest_cache .ruff_cache
