# terraform-provider-mlops — developer entry points.
#   make test      the whole suite against the real things (scripts/testenv.sh up first); CI runs exactly this
#   make lint      rustfmt check + clippy with warnings as errors
#   make demo      the local end-to-end example
#   make env-down  stop what scripts/testenv.sh started
#   make release VERSION=x.y.z   signed, reproducible release zips in dist/ (scripts/release.sh; README "Install")
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := build

# Builds cache outside the clone (CI clones fresh every run).
CARGO_TARGET_DIR ?= $(HOME)/.cache/mlops-target
MLOPS_TOOLS ?= $(HOME)/.cache/mlops-tools
export CARGO_TARGET_DIR MLOPS_TOOLS

TESTENV := bash scripts/testenv.sh
ENV_SH  := $(MLOPS_TOOLS)/env.sh

.PHONY: build test nextest env-up env-down env-status demo fmt lint docs

build:
	cargo build --release

env-up:
	$(TESTENV) up

env-down:
	$(TESTENV) down

env-status:
	$(TESTENV) status

# cargo-nextest is on every machine of this kind; install it from crates.io only if it is missing.
nextest:
	@cargo nextest --version >/dev/null 2>&1 || cargo install cargo-nextest --locked

# Every suite always runs; nextest goes last so its "Summary [...] N tests run: N passed" closes the log.
# pytest: the store-sales inference app and its training (examples/store-sales/lambda), moto in process.
test: env-up nextest
	. "$(ENV_SH)"; rc=0; \
	"$$MLOPS_PYTHON_VENV/bin/python" -m pytest -q -p no:cacheprovider examples/store-sales/lambda || rc=$$?; \
	cargo test --doc --workspace || rc=$$?; \
	cargo nextest run --workspace --all-targets --no-fail-fast || rc=$$?; \
	exit $$rc

# run.sh builds the provider itself (its step 3), with cargo's output in that step's log file.
demo: env-up
	. "$(ENV_SH)" && bash examples/local/run.sh

fmt:
	cargo fmt --all

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

# Registry-format docs are generated from the provider's schema + examples/ (DESIGN.md), and the
# modules' README inputs/outputs tables from their .tf files; tests/docs.rs and tests/modules.rs fail
# when either is stale.
docs:
	MLOPS_UPDATE_DOCS=1 cargo test --test docs --test modules

# Signed, reproducible release assets for the host platform (linux_amd64 here) in dist/; the signing key
# is the caller's: GPG_FINGERPRINT (and GNUPGHOME). Other platforms: .github/workflows/release.yml.
.PHONY: release
release:
	@[[ -n "$(VERSION)" ]] || { echo "usage: make release VERSION=x.y.z GPG_FINGERPRINT=<key> [GNUPGHOME=<dir>] [DIST_DIR=dist]" >&2; exit 2; }
	bash scripts/release.sh all "$(VERSION)"
