# Every target bootstraps .venv on a fresh machine (python3 -m venv + pip), then runs.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# checkov lives in its own venv: its pins (boto3, packaging<24, networkx<2.7, ...) must not meet respot's.
INFRA_VENV := .venv-infra
INFRA_STAMP := $(INFRA_VENV)/.installed

# make soak: the reliability suite at full scale (tests/soak); SOAK_SCALE=ci is the subset .ci/run runs.
SOAK_SCALE ?= full

.PHONY: venv test soak fuzz lint infra format bench bench-quick demo arm browser clean

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip 2>/dev/null
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt > $(VENV)/install.log 2>&1 || (cat $(VENV)/install.log; exit 1)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e . >> $(VENV)/install.log 2>&1 || (cat $(VENV)/install.log; exit 1)
	@$(BIN)/python -c "import azure.mgmt.compute, azure.durable_functions, localcloud" || (echo "bootstrap failed" && exit 1)
	@touch $(STAMP)

test: venv
	$(BIN)/python -m pytest -q

# The dashboard's browser test (tests/e2e/test_dashboard.py) drives Debian's chromium through chromium-driver: apt
# packages, never a browser download. As root (CI) this installs them; otherwise it says how, and the test skips.
browser:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get > /dev/null; then \
		apt-get update -qq > /dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			chromium chromium-driver > /dev/null || (echo "make browser: apt-get install chromium chromium-driver failed"; exit 1); \
	else echo "make browser: /usr/bin/chromium or /usr/bin/chromedriver is missing; as root: apt-get install chromium chromium-driver (the browser test skips without them)"; fi

soak: venv
	RESPOT_SOAK_SCALE=$(SOAK_SCALE) $(BIN)/python -m pytest -q -m soak tests/soak --timeout 1800

fuzz: venv  # new hypothesis examples each run (make test repeats the same ones)
	HYPOTHESIS_PROFILE=explore $(BIN)/python -m pytest -q tests/unit tests/integration

$(INFRA_STAMP): infra/requirements-checkov.txt
	@test -x $(INFRA_VENV)/bin/python || $(PY) -m venv $(INFRA_VENV)
	@$(INFRA_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r infra/requirements-checkov.txt > $(INFRA_VENV)/install.log 2>&1 || (cat $(INFRA_VENV)/install.log; exit 1)
	@$(INFRA_VENV)/bin/checkov --version > /dev/null || (echo "checkov bootstrap failed" && exit 1)
	@touch $(INFRA_STAMP)

lint: venv $(INFRA_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python infra/check.py --checkov $(INFRA_VENV)/bin/checkov

infra: venv $(INFRA_STAMP)  # the offline Bicep checks alone: pycep syntax, then checkov (infra/check.py)
	$(BIN)/python infra/check.py --checkov $(INFRA_VENV)/bin/checkov

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# make bench: every figure, the machine and the load, printed and written to .respot/bench.json (bench/report.py;
# 7-10 minutes, 3-5 of them the 1,000-VM mass eviction). bench-quick is the CI form (about a minute).
bench: venv
	$(BIN)/python -m bench

bench-quick: venv
	$(BIN)/python -m bench --quick

arm: venv
	$(BIN)/python -m localcloud.arm

demo: venv
	$(BIN)/python -m localcloud.demo

clean:
	rm -rf $(VENV) $(INFRA_VENV) .respot .mypy_cache .ruff_cache .pytest_cache
