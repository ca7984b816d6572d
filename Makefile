# The platform's commands. `make run` and `make test` do all set-up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
UV := $(PYTHON) -m uv
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PYTEST_ARGS ?=

.PHONY: help setup system-deps python-deps kafka-jars run migrate broker test unit integration integration-postgres cluster scale e2e lock clean \
        containers containers-test compose-dev-env helm-check audit

help:
	@echo "make run    - start the Kafka broker, the development issuer, the five services, the dashboard and the portal (Ctrl-C stops all)"
	@echo "make test   - install what is missing, then run unit and integration tests"
	@echo "make unit / make integration / make integration-postgres / make e2e / make cluster / make scale - one tier only"
	@echo "make containers      - build the container images from Debian packages (starts Docker if needed)"
	@echo "make containers-test - integration suite through testcontainers, then the compose tests (single node, cluster)"
	@echo "make compose-dev-env - DEVELOPMENT ONLY secrets for compose (credential key, portal session) in var/compose/dev.env"
	@echo "make audit           - check the locked dependencies for known vulnerabilities (fails on one with a fix)"
	@echo "make helm-check      - build helm if missing, lint and render the Helm chart, test the rendered manifests"

setup: system-deps python-deps kafka-jars

# Java runs the broker; Maven fetches its jars from Maven Central (once, then cached);
# PostgreSQL's server runs the integration suite a second time on a real PostgreSQL.
APT_PACKAGES :=
ifeq ($(shell command -v java),)
APT_PACKAGES += default-jre-headless
endif
ifeq ($(shell command -v mvn),)
APT_PACKAGES += maven
endif
ifeq ($(wildcard /usr/lib/postgresql/*/bin/initdb),)
APT_PACKAGES += postgresql
endif
# jq picks fields out of the JSON answers in the README's walkthroughs.
ifeq ($(shell command -v jq),)
APT_PACKAGES += jq
endif
# Debian's Chromium runs the dashboard's and the portal's browser tests (Playwright drives it; no browser download).
ifeq ($(wildcard /usr/bin/chromium),)
APT_PACKAGES += chromium
endif

# A CJK font for the certificates' rendered PDFs (fpdf2 embeds a subset of it); any of these will do.
ifeq ($(wildcard /usr/share/fonts/truetype/wqy/wqy-microhei.ttc /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc),)
APT_PACKAGES += fonts-wqy-microhei
endif

system-deps:
	@if [ -n "$(strip $(APT_PACKAGES))" ]; then \
	  echo "installing from Debian packages: $(APT_PACKAGES)"; \
	  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q $(APT_PACKAGES); \
	fi

python-deps:
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install -q uv
	$(UV) sync --all-packages --frozen --quiet

kafka-jars: python-deps
	$(UV) run --frozen conformity-broker fetch >/dev/null

run: setup
	$(UV) run --frozen conformity-stack

# The one-shot schema step (services refuse to start on a schema that is behind): every
# service's migrations against its CONFORMITY_* settings (default: SQLite files in var/).
migrate: setup
	$(UV) run --frozen conformity-migrate approval certificates supervision proficiency notifications

# pip-audit on the exported lock, against PyPI's vulnerability database.
# pip-audit exits 1 on any finding; conformity_devstack.audit decides from its report.
PIP_AUDIT := pip-audit==2.10.1
audit: python-deps
	@mkdir -p var && rm -f var/audit.json
	$(UV) export --frozen --format requirements-txt --no-emit-workspace --no-hashes --quiet -o var/audit-requirements.txt
	-$(UV) tool run --quiet --from $(PIP_AUDIT) pip-audit -r var/audit-requirements.txt --no-deps --disable-pip \
	  --progress-spinner off --format json -o var/audit.json 2>&1 | grep -v "encouraged to fully hash\|pip-compile"
	$(UV) run --frozen python -m conformity_devstack.audit var/audit-requirements.txt var/audit.json

broker: setup
	$(UV) run --frozen conformity-broker run

# The cluster tier runs once, on PostgreSQL (replicas share a database), after both passes;
# the scale tier (30,000 webhooks from one revocation, about 4 minutes) once, on SQLite, last.
# `-m scale` selects it; every other pytest run deselects it (pyproject's addopts).
NOT_CLUSTER := --ignore=tests/integration/cluster --ignore=tests/integration/scale

test: setup
	$(UV) run --frozen pytest $(NOT_CLUSTER) $(PYTEST_ARGS)
	CONFORMITY_TEST_DATABASE=postgresql $(UV) run --frozen pytest tests/integration $(NOT_CLUSTER) $(PYTEST_ARGS)
	$(UV) run --frozen pytest tests/integration/cluster $(PYTEST_ARGS)
	$(UV) run --frozen pytest -m scale tests/integration/scale $(PYTEST_ARGS)

unit: setup
	$(UV) run --frozen pytest shared/tests services $(PYTEST_ARGS)

integration: setup
	$(UV) run --frozen pytest tests/integration $(NOT_CLUSTER) $(PYTEST_ARGS)

integration-postgres: setup
	CONFORMITY_TEST_DATABASE=postgresql $(UV) run --frozen pytest tests/integration $(NOT_CLUSTER) $(PYTEST_ARGS)

# Two replicas of every service on PostgreSQL against a three-broker cluster, with faults.
cluster: setup
	$(UV) run --frozen pytest tests/integration/cluster $(PYTEST_ARGS)

# A revocation of 10,000 watched certificates: 30,000 webhooks to flaky, slow and down receivers
# (CONFORMITY_SCALE_N=300 for a quick run); figures in var/scale/notifications.json.
scale: setup
	$(UV) run --frozen pytest -m scale tests/integration/scale $(PYTEST_ARGS)

# The end-to-end tier alone (part of tests/integration): four service processes, faults, fuzzing.
e2e: setup
	$(UV) run --frozen pytest tests/integration/e2e $(PYTEST_ARGS)

lock:
	$(UV) lock

clean:
	rm -rf var .pytest_cache

# Containers: images built here from Debian's packages, PyPI and the Kafka jars (no registry
# needed; cached), then the integration suite once through testcontainers on those images,
# then docker-compose.yml and docker-compose.cluster.yml each brought up, driven through one
# cascade, and taken down.
CONTAINER_IMAGES := var/containers/images.env

containers: setup
	bash containers/build.sh

# DEVELOPMENT ONLY: the compose files' secrets without defaults (the certificates' credential
# signing key, a "dev-" key refused outside development; the portal's session secret; the
# development issuer's keys) in var/compose/dev.env: `set -a; . var/compose/dev.env; set +a`.
compose-dev-env: python-deps
	bash deploy/compose-dev-env.sh

containers-test: containers
	set -a && . ./$(CONTAINER_IMAGES) && set +a && \
	CONFORMITY_TEST_BROKER=docker CONFORMITY_TEST_DATABASE=postgres-container \
	  $(UV) run --frozen pytest tests/integration --ignore=tests/integration/e2e $(NOT_CLUSTER) $(PYTEST_ARGS) && \
	CONFORMITY_CONTAINER_TESTS=1 $(UV) run --frozen pytest tests/containers $(PYTEST_ARGS)

# The Helm chart (deploy/helm/conformity) is checked, not run on a cluster: helm lint, helm
# template, and tests of the rendered manifests (tests/deploy). helm is built from the Go module
# proxy once and cached outside the work tree (a cold build takes minutes, a cached one nothing).
HELM_VERSION := v3.22.0
HELM := $(HOME)/.cache/conformity/helm-$(HELM_VERSION)/helm
CHART := deploy/helm/conformity

$(HELM):
	@command -v go >/dev/null || { echo "make helm-check needs Go: helm is built with go install"; exit 1; }
	GOBIN=$(dir $(HELM)) go install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)

helm-check: python-deps $(HELM)
	$(HELM) lint --strict $(CHART) -f $(CHART)/ci/check-values.yaml
	$(HELM) template conformity $(CHART) -f $(CHART)/ci/check-values.yaml >/dev/null
	CONFORMITY_HELM=$(HELM) $(UV) run --frozen pytest tests/deploy $(PYTEST_ARGS)

# Benchmarks (issue 9, BENCHMARKS.md): the local Kafka broker, services as processes, every
# figure beside a raw baseline measured in the same run; table on stdout, JSON in bench/results/.
# bench-quick is CI's: small sizes, no thresholds, about 2 minutes. BENCH_ARGS=--profile attaches
# py-spy (needs py-spy in the environment), BENCH_ARGS="--only cascade,bulk" runs a subset.
BENCH_ARGS ?=
.PHONY: bench bench-quick soak

bench: setup
	$(UV) run --frozen python -m bench $(BENCH_ARGS)

bench-quick: setup
	$(UV) run --frozen python -m bench --quick $(BENCH_ARGS)

# Steady mixed load through all five services for CONFORMITY_SOAK_MINUTES (default 30), every
# process's memory and every consumer group's lag sampled; writes bench/results/soak-*.csv and
# .png, prints the bounds and fails when one is broken (BENCHMARKS.md, "Soak"). Not part of CI.
soak: setup
	$(UV) run --frozen python -m bench.soak
