# The few commands a developer needs. `make run` and `make test` work on a fresh machine:
# both install what they need first (uv, the locked environment, the dbt manifest).
SHELL := /bin/bash
.DEFAULT_GOAL := help

UV_VERSION := 0.13.8
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")

export SCRM_HOME ?= $(CURDIR)/.scrm
SAMPLE_RAW := $(CURDIR)/seeds/sample
SAMPLE_AS_OF := 2026-10-31

.PHONY: help setup run test test-fast test-spark lint format hooks dev docs sample messages

help:
	@echo "make run     build the warehouse from the shipped sample (as of $(SAMPLE_AS_OF))"
	@echo "make test    lint (ruff, sqlfluff, mypy) and run the test suite"
	@echo "make test-fast  the tests that build no night (a quick check while editing)"
	@echo "make test-spark  build the fixtures on Spark and DuckDB, compare (docs/spark.md)"
	@echo "make hooks   install the git hooks: ruff, sqlfluff and mypy on each commit"
	@echo "make dev     open the Dagster UI on the same assets and nights (dagster dev)"
	@echo "make docs    build the dbt docs site into dbt_project/target"
	@echo "make sample  regenerate seeds/sample with the generator"
	@echo "make messages  extract the texts people read into both languages' catalogs"

setup:
	@$(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet "uv==$(UV_VERSION)"
	@# With their bytecode: where Python may not write it (PYTHONDONTWRITEBYTECODE), every
	@# process, each dbt build included, compiled its imports again.
	@$(UV) sync --frozen --quiet --compile-bytecode
	@mkdir -p $(SCRM_HOME)
	@$(UV) run scrm prepare

run: setup
	$(UV) run scrm run --raw $(SAMPLE_RAW) --home $(SCRM_HOME) --as-of $(SAMPLE_AS_OF)

# The suite on every core, a test file per worker (pytest-xdist): a file's nights are built once.
TEST_WORKERS ?= auto
test: lint
	$(UV) run pytest -n $(TEST_WORKERS) --dist loadfile

# The tests that build no night: the unit tests of Python and SQL logic, in well under two minutes.
test-fast: setup
	$(UV) run pytest -n $(TEST_WORKERS) --dist loadfile -m "not night and not spark"

# The Spark comparison (docs/spark.md): pyspark and dbt-spark are the `spark` dependency group,
# installed here; Java 17 must be on the PATH.
test-spark: setup
	$(UV) run --frozen --group spark pytest -m spark

lint: setup
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	cd dbt_project && $(UV) run sqlfluff lint models
	$(UV) run mypy

format: setup
	$(UV) run ruff check --fix .
	$(UV) run ruff format .
	cd dbt_project && $(UV) run sqlfluff fix models

# The git hooks (.pre-commit-config.yaml): lint's checks on the files each commit changes.
hooks: setup
	$(UV) run pre-commit install

# The home's Dagster instance, where `scrm run` records its nights: the UI shows them. Plain
# `dagster dev` loads the location [tool.dagster] names in pyproject.toml.
dev: setup
	DAGSTER_HOME=$$($(UV) run python -m orchestration.dagster_home $(SCRM_HOME)) \
	SCRM_RAW_DIR=$${SCRM_RAW_DIR:-$(SAMPLE_RAW)} $(UV) run dagster dev

docs: setup
	cd dbt_project && $(UV) run dbt docs generate --profiles-dir . --vars '{as_of_date: "$(SAMPLE_AS_OF)"}'

# After changing a text people read: the messages (babel.cfg) into both languages' catalogs,
# orchestration/locale/*/LC_MESSAGES/scrm.po; then fill in the empty msgstr lines
# (tests/test_language.py names any left empty). The .po files are read as they are.
LOCALE_DIR := orchestration/locale
messages: setup
	$(UV) run pybabel extract -F babel.cfg --no-location --sort-output --omit-header \
		-o $(LOCALE_DIR)/scrm.pot .
	$(UV) run pybabel update -i $(LOCALE_DIR)/scrm.pot -d $(LOCALE_DIR) -D scrm \
		--no-fuzzy-matching --ignore-obsolete --ignore-pot-creation-date --width 100
	rm $(LOCALE_DIR)/scrm.pot
	@# click's own words (Usage:, its usage errors), from the click installed: a catalog apart.
	$(UV) run pybabel extract --no-location --sort-output --omit-header \
		-o $(LOCALE_DIR)/click.pot $$($(UV) run python -c "import click, os; print(os.path.dirname(click.__file__))")
	$(UV) run pybabel update -i $(LOCALE_DIR)/click.pot -d $(LOCALE_DIR) -D click \
		--no-fuzzy-matching --ignore-obsolete --ignore-pot-creation-date --width 100
	rm $(LOCALE_DIR)/click.pot

sample: setup
	rm -f $(SAMPLE_RAW)/*.csv $(SAMPLE_RAW)/*.parquet
	$(UV) run scrm generate --customers 3000 --seed 42 --format parquet --out $(SAMPLE_RAW)
