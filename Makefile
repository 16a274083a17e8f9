# trainq: the commands a newcomer and CI run. Everything is installed into the repo:
# Rust crates by cargo, moto (pinned) and the Python tools into .venv/.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
MOTO_VERSION := 5.2.5
# The venv is rebuilt when this file (and so a pin) changes.
VENV_STAMP := $(VENV)/.installed-$(MOTO_VERSION)
CARGO ?= cargo
export CARGO_TERM_COLOR ?= never

.PHONY: help venv build check fmt lint test unit-test integration-test demo bench clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 20

$(VENV_STAMP):
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check 'moto[server]==$(MOTO_VERSION)'
	touch $@

venv: $(VENV_STAMP) ## Install the pinned emulator (moto server) into .venv/

build: ## Build every crate (debug)
	$(CARGO) build --workspace --all-targets

fmt: ## Format the code
	$(CARGO) fmt --all

lint: ## rustfmt check and clippy with warnings as errors
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --all-features -- -D warnings

unit-test: ## Unit tests of the domain and the Lambdas' logic (no emulator)
	$(CARGO) test --workspace --exclude trainq-integration-tests

integration-test: venv ## End-to-end tests over HTTP: moto + the local SageMaker endpoint
	$(CARGO) test -p trainq-integration-tests

test: venv lint ## Everything CI runs: lints, unit and integration tests
	$(CARGO) test --workspace

demo: ## The end-to-end demo (coming with the devstack issue)
	@echo "make demo is coming with the devstack issue (#4); run 'make test' meanwhile." >&2
	@exit 1

bench: ## Benchmarks (coming with the benchmarks issue)
	@echo "make bench is coming with the benchmarks issue (#8)." >&2
	@exit 1

clean: ## Remove build output and the venv
	$(CARGO) clean
	rm -rf $(VENV)
