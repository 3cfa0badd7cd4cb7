# Two commands: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DEVSTAMP := $(VENV)/.installed-dev

.PHONY: run test bench loadtest eval eval-versions clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q -e .
	touch $@

$(DEVSTAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP) $@

## make run: install, ingest the docs if the collection is empty, start the bot (or `faqbot chat`)
run: $(STAMP)
	$(PY) -m bot.run

## make test: the whole offline test suite (two workers: most tests wait on servers, not the CPU;
## a file's tests stay on one worker so module fixtures are built once)
test: $(DEVSTAMP)
	$(PY) -m pytest -q -n 2 --dist loadfile $(PYTEST_ARGS)

## make bench: performance benchmarks (JSON line + table each)
bench: $(DEVSTAMP)
	$(PY) -m benchmarks.run_all

## make loadtest: 1,000 events in 60 s at `faqbot serve --http` (issue 4's load test)
loadtest: $(DEVSTAMP)
	$(PY) -m benchmarks.load_test

## make eval: retrieval quality on the dev questions (keyless)
eval: $(STAMP)
	$(VENV)/bin/faqbot eval ../shared/eval/dev_questions.jsonl

## make eval-versions: version routing (keyless) with the four docs zips' all docs in one temp collection
eval-versions: $(STAMP)
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	for v in 3.0 2.6 2.5 2.4; do \
	  MILVUS_URI=$$tmp/m.db FAQBOT_CACHE_DIR=$$tmp/cache FAQBOT_DOCS_GLOB='en/**/*.md' \
	    $(VENV)/bin/faqbot ingest --source ../shared/data/milvus_docs_$$v.x_en.zip --version v$$v.x || exit 1; \
	done && MILVUS_URI=$$tmp/m.db $(VENV)/bin/faqbot eval ../shared/eval/dev_versions.jsonl

clean:
	rm -rf $(VENV) .pytest_cache *.egg-info
