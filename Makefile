# trainq: the commands a newcomer and CI run. Everything is installed into the repo:
# Rust crates by cargo, moto (pinned) and the Python tools into .venv/.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
MOTO_VERSION := 5.2.5
# botocore's service models are AWS's contract that the devstack's front door checks every
# call against: pinned, so a test run means the same thing on every machine.
BOTOCORE_VERSION := 1.44.8
# The tests check documents against the docs' JSON Schemas with the reference validator.
JSONSCHEMA_VERSION := 4.26.0
# The venv is rebuilt when a pin changes.
VENV_STAMP := $(VENV)/.installed-$(MOTO_VERSION)-$(BOTOCORE_VERSION)-$(JSONSCHEMA_VERSION)
# Deployment and template tools, in a venv of their own (their pins would fight moto's).
TOOLS_VENV := .venv-tools
CFN_LINT_VERSION := 1.58.0
CHECKOV_VERSION := 3.3.30
CARGO_LAMBDA_VERSION := 1.9.2
AWSCLI_VERSION := 1.46.3
TOOLS_STAMP := $(TOOLS_VENV)/.installed-$(CFN_LINT_VERSION)-$(CHECKOV_VERSION)-$(CARGO_LAMBDA_VERSION)-$(AWSCLI_VERSION)
CFN_GUARD_VERSION := 3.2.1
CFN_GUARD := .tools/bin/cfn-guard
CARGO_FUZZ_VERSION := 0.13.2
CARGO_FUZZ := .tools/bin/cargo-fuzz
FUZZ_TARGETS := request event
FUZZ_SECONDS ?= 30
TEMPLATE := infra/cloudformation/template.yaml
POLICIES := infra/cloudformation/policies
FUNCTIONS := trainq-dispatcher trainq-watcher
CARGO ?= cargo
export CARGO_TERM_COLOR ?= never

.PHONY: help venv tools fuzz-smoke chaos build build-debug bins check-template deploy fmt lint test unit-test integration-test devstack devstack-down demo bench burst clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 20

$(VENV_STAMP):
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check 'moto[server]==$(MOTO_VERSION)' \
		'botocore==$(BOTOCORE_VERSION)' 'boto3==$(BOTOCORE_VERSION)' 'jsonschema==$(JSONSCHEMA_VERSION)'
	touch $@

venv: $(VENV_STAMP) ## Install the pinned emulator (moto server) into .venv/

$(TOOLS_STAMP):
	$(PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/pip install --quiet --disable-pip-version-check 'cfn-lint==$(CFN_LINT_VERSION)' \
		'checkov==$(CHECKOV_VERSION)' 'cargo-lambda==$(CARGO_LAMBDA_VERSION)' 'awscli==$(AWSCLI_VERSION)'
	touch $@

$(CFN_GUARD):
	$(CARGO) install cfn-guard --version $(CFN_GUARD_VERSION) --locked --root .tools

$(CARGO_FUZZ):
	$(CARGO) install cargo-fuzz --version $(CARGO_FUZZ_VERSION) --locked --root .tools

tools: $(TOOLS_STAMP) $(CFN_GUARD) ## Install cfn-lint, checkov, cargo-lambda, the AWS CLI (.venv-tools/) and cfn-guard (.tools/)

build: $(TOOLS_STAMP) ## arm64 release zips of both functions with cargo-lambda, into dist/
	@if command -v rustup >/dev/null 2>&1; then rustup target add aarch64-unknown-linux-gnu; fi
	PATH="$(CURDIR)/$(TOOLS_VENV)/bin:$$PATH" cargo-lambda lambda build --release --arm64 --output-format zip \
		$(addprefix --bin ,$(FUNCTIONS))
	@mkdir -p dist
	@for f in $(FUNCTIONS); do cp target/lambda/$$f/bootstrap.zip dist/$$f.zip; done
	@ls -l dist/*.zip | awk '{printf "%s %.2f MB\n", $$NF, $$5 / 1048576}'

build-debug: ## Build every crate and test (debug)
	$(CARGO) build --workspace --all-targets

check-template: $(TOOLS_STAMP) $(CFN_GUARD) ## cfn-lint, cfn-guard IAM rules (and their tests), checkov on the template
	$(TOOLS_VENV)/bin/cfn-lint $(TEMPLATE)
	$(CFN_GUARD) validate --data $(TEMPLATE) --rules $(POLICIES)/iam.guard --show-summary fail
	$(CFN_GUARD) test --rules-file $(POLICIES)/iam.guard --test-data $(POLICIES)/iam_tests.yaml > /dev/null
	$(TOOLS_VENV)/bin/checkov --file $(TEMPLATE) --framework cloudformation --quiet --compact --skip-download

fuzz-smoke: $(CARGO_FUZZ) ## Each fuzz target for FUZZ_SECONDS (default 30) from its seed corpus, on nightly
	@rustup run nightly rustc --version >/dev/null 2>&1 || rustup toolchain install nightly --profile minimal
	@for t in $(FUZZ_TARGETS); do \
		mkdir -p fuzz/.corpus-run/$$t; \
		(cd fuzz && PATH="$(CURDIR)/.tools/bin:$$PATH" cargo +nightly fuzz run $$t .corpus-run/$$t corpus/$$t \
			-- -max_total_time=$(FUZZ_SECONDS) > .corpus-run/$$t.log 2>&1) \
			|| { grep -A3 -E 'panicked|^==[0-9]+==|^SUMMARY' fuzz/.corpus-run/$$t.log; \
				grep -A2 -E '^Failing input' fuzz/.corpus-run/$$t.log; \
				echo "fuzz target $$t failed (whole log: fuzz/.corpus-run/$$t.log)" >&2; exit 1; }; \
		echo "fuzz $$t: $$(grep -E '^Done' fuzz/.corpus-run/$$t.log)"; \
	done

CHAOS_REQUESTS ?= 1000

chaos: venv bins ## The chaos run at CHAOS_REQUESTS (default 1,000) requests, with its figures
	CHAOS_REQUESTS=$(CHAOS_REQUESTS) $(CARGO) test -p trainq-integration-tests --test chaos -- --nocapture

deploy: build ## Deploy to AWS: STACK=trainq ARTIFACT_BUCKET=… PARAMETERS=file (docs/deploy.md)
	infra/deploy/deploy.sh

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

test: venv tools lint bins check-template ## Everything CI runs: lints, template checks, unit and integration tests
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

bench: venv ## trainq vs a Python/boto3 peer: cold start, batch latency, calls, memory, size, throughput → bench/results.md
	$(CARGO) build --release -p trainq-dispatcher -p trainq-watcher --bins
	$(CARGO) bench -p trainq-common --bench domain -- --warm-up-time 1 --measurement-time 3
	$(CARGO) run --quiet -p trainq-bench

BURST_BASELINE := baac479
BURST_BASELINE_DIR := target/burst-baseline

burst: venv bins ## trainq's scheduler vs the previous release's under a burst against a small quota → bench/results.md
	@if [ ! -x $(BURST_BASELINE_DIR)/debug/trainq-dispatcher ]; then \
	  echo "burst: building the previous release ($(BURST_BASELINE)) for the baseline"; \
	  rm -rf $(BURST_BASELINE_DIR)/src && mkdir -p $(BURST_BASELINE_DIR)/src && \
	  git archive $(BURST_BASELINE) | tar -x -C $(BURST_BASELINE_DIR)/src && \
	  $(CARGO) build --manifest-path $(BURST_BASELINE_DIR)/src/Cargo.toml \
	    --target-dir $(BURST_BASELINE_DIR) -p trainq-dispatcher -p trainq-watcher --bins; \
	fi
	$(CARGO) run --quiet -p trainq-bench -- burst

clean: ## Remove build output, the venvs and the installed tools
	$(CARGO) clean
	rm -rf $(VENV) $(TOOLS_VENV) .tools dist
