# nbo: the two commands a newcomer needs are `make demo` and `make test`.
PYTHON   ?= python3.11
VENV     ?= .venv
BIN      := $(VENV)/bin
NBO      := $(BIN)/nbo
# Airflow in an environment of its own (deploy/airflow/requirements.lock): it cannot share nbo's lock.
AIRFLOW_VENV ?= .venv-airflow
# The embedded default: a synthetic bank of this size and seed.
CUSTOMERS ?= 20000
MONTHS    ?= 24
SEED      ?= 42
# `make mlflow-ui`: where MLflow's UI listens.
MLFLOW_PORT ?= 5000
# The demo's folders: the synthetic bank (its systems' extracts in sources/, the truth, its reference
# tables), the OneID folder the service reads (links, decisions), the canonical tables assembled through it.
BANK      ?= data/bank
ONEID     ?= var/identity
DATA      ?= data/customers
SYSTEMS   := core_banking mobile_app online_banking branch_crm call_centre wechat
# The month `make demo` scores as if served then (outcome and drift monitoring have a past to show):
# 13 months before this one, so the delinquency outcome (30+ DPD within 12 months) has matured.
PAST_MONTH := $(shell date -u -d "$$(date -u +%Y-%m-01) -13 months" +%Y-%m)
# benchmarks/scale.py options for `make bench` (its default: 100,000 and 1,000,000 customers).
SCALE_BENCH_ARGS ?=
# `make ab OLD=<rev>`: the old revision, and more benchmarks/ab.py options (see its --help).
OLD     ?=
AB_ARGS ?=

.PHONY: install airflow-env demo demo-scale test bench ab soak audit lint clean mlflow-ui

$(VENV)/.installed: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

install: $(VENV)/.installed

$(AIRFLOW_VENV)/.installed: deploy/airflow/requirements.lock
	$(PYTHON) -m venv $(AIRFLOW_VENV)
	$(AIRFLOW_VENV)/bin/pip install --quiet -r deploy/airflow/requirements.lock
	touch $@

## airflow-env: Airflow for `airflow dags test` of deploy/airflow/nbo_dag.py (tests/cli/test_schedule_airflow.py)
airflow-env: $(AIRFLOW_VENV)/.installed

## demo: the main job on the embedded default (grows with each stage of the pipeline)
demo: install
	$(NBO) data generate --customers $(CUSTOMERS) --months $(MONTHS) --seed $(SEED) --out $(BANK)
	$(NBO) identity resolve $(foreach s,$(SYSTEMS),--system $(s)=$(BANK)/sources/$(s).parquet) --out $(ONEID)
	$(NBO) data assemble --sources $(BANK)/sources --links $(ONEID) --out $(DATA)
	$(NBO) data validate $(DATA) --links $(ONEID)
	$(NBO) features build $(DATA)
	$(NBO) features apply
	$(NBO) features materialize
	$(NBO) train churn --data $(DATA)
	$(NBO) train delinquency --data $(DATA)
	$(NBO) train recommender --data $(DATA)
	$(NBO) train fraud --data $(DATA) --truth $(BANK)/truth/fraud.parquet
	$(NBO) monitor backfill --model churn --month $(PAST_MONTH)
	$(NBO) monitor backfill --model delinquency --month $(PAST_MONTH)
	$(NBO) triggers run --as-of $$(date -u +%F)
	$(NBO) segments report
	$(NBO) keys demo
	$(NBO) campaigns load config/campaigns/*.toml --by demo-author --reason "example campaigns shipped with nbo"
	$(NBO) info
	@set -- $$($(NBO) info --json | $(BIN)/python -c \
		'import json, sys; i = json.load(sys.stdin); print(i["service_url"], i["demo_api_keys"]["rm"])'); \
	echo; echo "Where to look next, while it serves (Ctrl-C stops it):"; \
	echo "  RM workbench  $$1/workbench  (sign in with the rm key $$2)"; \
	echo "  API docs      $$1/docs"; \
	echo "  MLflow UI     make mlflow-ui  (in another shell)"; \
	echo "  try the API   the commands under \"After make demo\" in README.md, in another shell"; echo
	$(NBO) serve

## demo-scale: the same demo on Redis and PostgreSQL (Feast registry, MLflow, audit): config/scale.toml
demo-scale: install
	NBO_CONFIG=config/scale.toml $(NBO) stores init
	NBO_CONFIG=config/scale.toml $(MAKE) --no-print-directory demo ONEID=var/scale/identity

## test: the whole suite (exits non-zero when any test fails)
test: install airflow-env
	$(BIN)/ruff check nbo sources identity features training serving evaluation models tests benchmarks deploy
	$(BIN)/lint-imports --no-cache
	@$(MAKE) --no-print-directory audit
	$(BIN)/pytest -q

## audit: pip-audit over requirements.lock; says so plainly when no vulnerability service answers
audit: install
	@echo "== pip-audit -r requirements.lock"
	@$(BIN)/pip-audit -r requirements.lock --no-deps --disable-pip --progress-spinner off \
		>$(VENV)/pip-audit.txt 2>&1; rc=$$?; \
	pinned=$$(grep -c '==' requirements.lock); skipped=$$(grep -c 'could not be audited' $(VENV)/pip-audit.txt); \
	if [ "$$skipped" -ge "$$pinned" ]; then \
		echo "pip-audit: NOT AUDITED - no vulnerability service (PyPI JSON API, OSV) answers from this machine;"; \
		echo "           0 of $$pinned pinned packages were checked. Run 'make audit' where one is reachable."; \
	else grep -v 'could not be audited' $(VENV)/pip-audit.txt | tail -40; \
		echo "pip-audit: $$((pinned - skipped)) of $$pinned pinned packages checked (exit $$rc)"; \
		! grep -q 'known vulnerabilit' $(VENV)/pip-audit.txt || [ $$rc -eq 0 ]; fi

## soak: the reliability checks with many more examples and a longer load (minutes, not for CI)
soak: install
	RELIABILITY_SOAK=1 $(BIN)/pytest -q tests/reliability

## bench: benchmarks into benchmarks/results/*.json
bench: install
	$(BIN)/python benchmarks/generate.py
	$(BIN)/python benchmarks/features.py
	$(BIN)/python benchmarks/training.py
	$(BIN)/python benchmarks/recommender.py
	$(BIN)/python benchmarks/fraud_scorer.py
	$(BIN)/python benchmarks/service.py
	$(BIN)/python benchmarks/payments.py
	$(BIN)/python benchmarks/workbench.py
	$(BIN)/python benchmarks/load.py --rate 150 --seconds 30 --workers 2
	$(BIN)/python benchmarks/triggers.py
	$(BIN)/python benchmarks/scale.py $(SCALE_BENCH_ARGS)
	$(BIN)/python benchmarks/identity.py

## ab: A/B of revision OLD against this working tree: the same answers, speed side by side (exit 1 on a difference)
ab: install
	@test -n "$(OLD)" || { echo "usage: make ab OLD=<git revision> [AB_ARGS='--customers 3000']"; exit 2; }
	$(BIN)/python benchmarks/ab.py --old $(OLD) $(AB_ARGS)

## mlflow-ui: MLflow's UI on the project's store (runs, datasets, reports, registered models)
mlflow-ui: install
	$(NBO) mlflow-ui --port $(MLFLOW_PORT)

lint: install
	$(BIN)/ruff check nbo sources identity features training serving evaluation models tests benchmarks deploy
	$(BIN)/lint-imports --no-cache

clean:
	rm -rf $(VENV) $(AIRFLOW_VENV) data var benchmarks/results/*.json
