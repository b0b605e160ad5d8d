# The verbs of the project. Recipes stay thin: logic lives in scripts/.
SHELL := /bin/bash
CARGO ?= cargo
export PATH := $(CURDIR)/.tools/bin:$(PATH)

.PHONY: dev test test-rust lint fmt token migrate bench tools

## dev: run the task service on 127.0.0.1:50051 with an embedded SQLite database (data/).
dev:
	$(CARGO) build -p task -p shared --bins
	@echo "task service: grpc://127.0.0.1:50051 (SQLite at data/tasks.db)"
	@echo "token:        $$($(CARGO) run -q -p shared --bin dev-token -- alice)"
	RUST_LOG=$${RUST_LOG:-info} $(CARGO) run -q -p task

## test: every test (Rust on a fresh private PostgreSQL + SQLite, then deployment checks).
test: tools test-rust
	@if [ -f mk/deploy.mk ]; then $(MAKE) --no-print-directory deploy-check; fi

test-rust:
	scripts/with-test-postgres.sh $(CARGO) nextest run --workspace --no-fail-fast

tools:
	scripts/install-tools.sh

## lint: formatting and clippy, warnings are errors.
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

## token: a development JWT, e.g. `make token USER_ID=alice`.
token:
	@$(CARGO) run -q -p shared --bin dev-token -- $(or $(USER_ID),alice)

## migrate: apply migrations to DATABASE_URL.
migrate:
	$(CARGO) run -q -p migrations --bin migrate -- up

-include mk/deploy.mk
