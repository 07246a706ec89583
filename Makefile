# nbo: the two commands a newcomer needs are `make demo` and `make test`.
PYTHON   ?= python3.11
VENV     ?= .venv
BIN      := $(VENV)/bin
NBO      := $(BIN)/nbo
# The embedded default: a synthetic bank of this size and seed.
CUSTOMERS ?= 20000
MONTHS    ?= 24
SEED      ?= 42
DATA      ?= data/bank

.PHONY: install demo test bench lint clean

$(VENV)/.installed: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

install: $(VENV)/.installed

## demo: the main job on the embedded default (grows with each stage of the pipeline)
demo: install
	$(NBO) data generate --customers $(CUSTOMERS) --months $(MONTHS) --seed $(SEED) --out $(DATA)
	$(NBO) data validate $(DATA)
	$(NBO) features build $(DATA)
	$(NBO) features apply
	$(NBO) features materialize
	$(NBO) train churn --data $(DATA)
	$(NBO) train delinquency --data $(DATA)
	$(NBO) train recommender --data $(DATA)
	$(NBO) keys demo
	$(NBO) info
	@echo "serving on http://127.0.0.1:8000 (API docs at /docs); Ctrl-C to stop"
	$(NBO) serve

## test: the whole suite (exits non-zero when any test fails)
test: install
	$(BIN)/ruff check nbo sources features training serving evaluation tests benchmarks
	$(BIN)/pytest -q

## bench: benchmarks into benchmarks/results/*.json
bench: install
	$(BIN)/python benchmarks/generate.py
	$(BIN)/python benchmarks/features.py
	$(BIN)/python benchmarks/training.py
	$(BIN)/python benchmarks/recommender.py
	$(BIN)/python benchmarks/service.py
	$(BIN)/python benchmarks/workbench.py

lint: install
	$(BIN)/ruff check nbo sources features training serving evaluation tests benchmarks

clean:
	rm -rf $(VENV) data var benchmarks/results/*.json
