# The first two targets are the README's first two commands: `make demo` and `make test`.
# Each creates .venv on first use and installs exactly the versions in constraints.txt.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
INSTALLED_DEV := $(VENV)/.installed-dev
INSTALLED_SPARK := $(VENV)/.installed-spark
# checkov pins old packaging and more, so it gets its own environment.
CHECKOV_VENV := .venv-checkov
INSTALLED_CHECKOV := $(CHECKOV_VENV)/.installed
# Debian packages, as root or through sudo.
APT_INSTALL := $(if $(filter 0,$(shell id -u)),,sudo) sh -c 'apt-get update -qq && \
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$$@"' apt

.PHONY: demo test test-spark lint bench clean spark-setup checkov-setup

demo: $(INSTALLED)
	$(BIN)/banklake demo

test: $(INSTALLED_DEV) spark-setup checkov-setup
	@# tests/test_crash_anywhere.py kills runs at their N-th file-system write, seen by strace.
	@command -v strace >/dev/null || $(APT_INSTALL) strace
	$(BIN)/ruff check src tests benchmarks infra/checkov
	$(BIN)/ruff format --check src tests benchmarks infra/checkov
	$(BIN)/mypy
	$(BIN)/pytest

# Every Spark case of the behaviour suite (25 minutes on 2 cores); `make test` runs some.
test-spark: $(INSTALLED_DEV) spark-setup
	$(BIN)/pytest -m spark --spark-cases=all

# 30 to 35 minutes on 2 cores, 10 of them one 100M-row batch (`bench.py --no-100m` skips it);
# benchmarks/bench.py's docstring says what it measures and how.
bench: $(INSTALLED_DEV) spark-setup
	$(BIN)/python benchmarks/bench.py

$(BIN)/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "banklake needs Python 3.11 or newer"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(INSTALLED): pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/pip install --quiet -c constraints.txt -e .
	touch $@

$(INSTALLED_DEV): pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(INSTALLED) $@

# The Spark engine: Java 17, PySpark and the Iceberg runtime's jars, assembled offline into the
# user's cache (banklake.engines.spark_jars says how and where).
spark-setup: $(INSTALLED_SPARK)
	$(BIN)/python -m banklake.engines.spark_jars

$(INSTALLED_SPARK): pyproject.toml constraints.txt | $(BIN)/python
	@command -v java >/dev/null || $(APT_INSTALL) openjdk-17-jre-headless
	@test -f /usr/share/java/jarjar.jar -a -f /usr/share/java/sqlite-jdbc.jar || \
		$(APT_INSTALL) libjarjar-java libasm-java libxerial-sqlite-jdbc-java
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev,spark]'
	touch $(INSTALLED) $(INSTALLED_DEV) $@

# checkov, which tests/infra runs over infra/ (offline, with the checks in infra/checkov/checks).
checkov-setup: $(INSTALLED_CHECKOV)

$(CHECKOV_VENV)/bin/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "checkov-setup needs Python 3.11 or newer"'
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip

$(INSTALLED_CHECKOV): infra/checkov/requirements.txt | $(CHECKOV_VENV)/bin/python
	$(CHECKOV_VENV)/bin/pip install --quiet -r infra/checkov/requirements.txt
	touch $@

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) landing lakehouse reports benchmarks/work .pytest_cache .mypy_cache .ruff_cache
