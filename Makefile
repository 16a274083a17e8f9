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

.PHONY: help venv build bins check fmt lint test unit-test integration-test devstack devstack-down demo bench clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 20

$(VENV_STAMP):
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check 'moto[server]==$(MOTO_VERSION)'
	touch $@

venv: $(VENV_STAMP) ## Install the pinned emulator (moto server) into .venv/

build: ## Build every crate (debug)
	$(CARGO) build --workspace --all-targets

bins: ## Build the binaries the local stack runs (functions, devstack, defect trainer)
	$(CARGO) build --workspace --bins

fmt: ## Format the code
	$(CARGO) fmt --all

lint: ## rustfmt check and clippy with warnings as errors
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --all-features -- -D warnings

unit-test: ## Unit tests of the domain and the Lambdas' logic (no emulator)
	$(CARGO) test --workspace --exclude trainq-integration-tests

integration-test: venv bins ## End-to-end tests over HTTP: moto, the local SageMaker endpoint, the local stack
	$(CARGO) test -p trainq-integration-tests

test: venv lint bins ## Everything CI runs: lints, unit and integration tests
	$(CARGO) test --workspace

DEVSTACK := target/debug/trainq-devstack

devstack: venv bins ## Start the local stack in the background (moto, local SageMaker, the functions)
	$(DEVSTACK) up

devstack-down: ## Stop the local stack and everything it started
	$(DEVSTACK) down

demo: venv bins ## The whole pipeline on this machine: a scenario through the local stack, checked
	@was_up=0; $(DEVSTACK) status >/dev/null 2>&1 && was_up=1; \
	$(DEVSTACK) up >/dev/null || exit 1; \
	$(DEVSTACK) demo; status=$$?; \
	if [ $$was_up = 0 ]; then $(DEVSTACK) down >/dev/null; fi; \
	exit $$status

bench: ## Benchmarks (coming with the benchmarks issue)
	@echo "make bench is coming with the benchmarks issue (#8)." >&2
	@exit 1

clean: ## Remove build output and the venv
	$(CARGO) clean
	rm -rf $(VENV)
