# The two commands a fresh machine needs: `make test` (everything, then every check and test).
# Other targets are the steps it is made of.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LIB := libs/python/svcinfra
# Every service folder, a generated one too (svcinfra new service).
SERVICES := $(patsubst %/pyproject.toml,%,$(wildcard services/*/*/pyproject.toml))
PROJECTS := $(LIB) $(SERVICES)
PYPROJECTS := $(addsuffix /pyproject.toml,$(PROJECTS))

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(STAMP): requirements/dev.txt $(PYPROJECTS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements/dev.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation $(addprefix -e ,$(PROJECTS))
	touch $@

.PHONY: venv
venv: $(STAMP) ## create .venv from the hash-pinned requirement files

PARSER_STAMP := tools/asyncapi-parser/node_modules/.installed
$(PARSER_STAMP): tools/asyncapi-parser/package-lock.json
	scripts/asyncapi-parser.sh

.PHONY: parser
parser: $(PARSER_STAMP) ## install the official AsyncAPI parser (npm) the tests run over every contract

# The services depend on svcinfra, which no index holds: their other dependencies are listed in
# requirements/dev.in, and a test checks every project's requirements are pinned.
.PHONY: lock
lock: ## regenerate requirements/dev.txt (exact versions with hashes) from the pyproject files
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check pip-tools
	$(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras --all-extras \
	  --no-emit-index-url --no-emit-find-links --no-emit-trusted-host \
	  -o requirements/dev.txt $(LIB)/pyproject.toml requirements/dev.in

# The images install only from these (CI-1): each service's requirements.txt (its svcinfra extras
# and its own dependencies), requirements/build.txt (hatchling) and requirements/reload.txt
# (watchfiles, the dev stage's reload, CI-4); all pinned to the versions of requirements/dev.txt.
.PHONY: lock-services
lock-services: $(STAMP) ## regenerate the images' hash-pinned requirement files (run after `make lock`)
	$(BIN)/python scripts/lock_services.py

.PHONY: infra
infra: ## make sure PostgreSQL, Redis and RabbitMQ are reachable on loopback
	scripts/infra.sh up

.PHONY: run
run: $(STAMP) infra ## run every service under services/ locally (prints URLs; Ctrl-C stops them; ONLY="a b": those services only)
	PYTHONPATH=tools $(BIN)/python -m devstack run $(foreach s,$(ONLY),--service $(s))

.PHONY: demo
demo: $(STAMP) infra ## register a user and show its welcome email arriving at fake-mail
	PYTHONPATH=tools $(BIN)/python -m devstack demo

.PHONY: chaos
chaos: $(STAMP) infra ## N registrations (default 10000) through restarts, kills, outages: `make chaos N=2000`
	$(BIN)/python tests/chaos/chaos_run.py -n $(or $(N),10000)

.PHONY: chaos-cluster
chaos-cluster: $(STAMP) infra ## the chaos run on clusters, node kills of each kind: `make chaos-cluster N=1000`
	$(BIN)/python tests/chaos/chaos_cluster.py -n $(or $(N),5000)

.PHONY: chaos-cluster-ci
chaos-cluster-ci: $(STAMP) infra ## the clustered chaos run at CI size (N=300), a step of `make test`
	SVCINFRA_CHAOS_CLUSTER=1 $(BIN)/pytest tests/chaos/test_chaos_cluster.py

.PHONY: lint
lint: $(STAMP) ## ruff, mypy --strict on src/, import-linter
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy $(addsuffix /src,$(PROJECTS))
	$(BIN)/lint-imports

.PHONY: check
check: $(STAMP) infra ## svcinfra check on this repository, named queries prepared against PostgreSQL
	$(BIN)/svcinfra check . --db postgresql://postgres@127.0.0.1:5432/postgres

.PHONY: pytest
pytest: $(STAMP) $(PARSER_STAMP) infra ## the unit, integration and e2e tests
	$(BIN)/pytest

# CI-1, built for real (as root: buildah, chroot): every service's prod and dev image twice, each
# time in an empty image store with no layer cache, the layers compared bit for bit; each prod
# image's process run as its non-root user, no sources inside; then the same for a service
# `svcinfra new service` generates. The Debian base (debootstrap) and the wheelhouse are made once
# per machine in /var/tmp/svcinfra-images. Phases and their seconds are printed.
# `make images ONCE=dev`: the dev images built once only (prod still twice, compared and run).
IMAGE_ENV := ONCE="$(ONCE)" PYTHON=$(CURDIR)/$(BIN)/python \
  PYTHON_PREFIX=$$($(BIN)/python -c 'import sys; print(sys.base_prefix)')

.PHONY: images
images: $(STAMP) ## build every image twice (buildah, root), compare the layers, run each prod image
	$(IMAGE_ENV) PROVE=1 scripts/build-images.sh
	$(IMAGE_ENV) scripts/prove-new-service-image.sh

.PHONY: test
test: lint check pytest chaos-cluster-ci images ## set everything up, then run every check and test, and prove the images

.PHONY: fmt
fmt: $(STAMP) ## format and autofix
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

.PHONY: clean
clean: ## remove the virtualenv and caches
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis .import_linter_cache \
	  tools/asyncapi-parser/node_modules

.PHONY: env-example
env-example: $(STAMP) ## regenerate .env.example from the config schema
	$(BIN)/svcinfra config example svcinfra.testing:FullConfig --env-prefix APP_ -o .env.example

USERS_GENERATED := $(CURDIR)/services/internal/users/src/users/generated

.PHONY: proto
proto: $(STAMP) ## regenerate the committed protobuf code (RD-4)
	cd $(LIB)/tests/assets/proto && $(CURDIR)/$(BIN)/python -m grpc_tools.protoc -I . \
	  --python_out=generated --pyi_out=generated cache_values.proto
	cd proto/users/v1 && $(CURDIR)/$(BIN)/python -m grpc_tools.protoc -I . \
	  --python_out=$(USERS_GENERATED) --pyi_out=$(USERS_GENERATED) user_profile.proto

MONITORING := users.monitoring:MONITORING notifications.monitoring:MONITORING

.PHONY: monitoring
monitoring: $(STAMP) ## render deploy/observability: alert rules, their promtool tests, dashboards
	$(BIN)/svcinfra monitoring render $(MONITORING) -o deploy/observability
