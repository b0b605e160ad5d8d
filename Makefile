# The verbs of the project. Recipes stay thin: logic lives in scripts/.
SHELL := /bin/bash
CARGO ?= cargo
export PATH := $(CURDIR)/.tools/bin:$(PATH)
# Where cargo puts binaries (CI may set CARGO_TARGET_DIR outside the clone).
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)

.PHONY: dev test test-rust monitoring-check lint-static fuzz-short fuzz soak lint fmt token migrate bench tools

## dev: every service, each behind its own real daprd, with Kafka and the Dapr
# scheduler, on loopback; embedded SQLite (data/). scripts/dev.sh says how.
dev:
	scripts/dev.sh

## test: every test (Rust on a fresh private PostgreSQL, Kafka and Dapr
# scheduler + SQLite; a short run of every fuzz target; the alerts and
# dashboards against promtool; deployment checks).
test: tools test-rust fuzz-short monitoring-check lint-static
	@if [ -f mk/deploy.mk ]; then $(MAKE) --no-print-directory deploy-check; fi

## lint-static: actionlint on the workflows, buf lint and buf breaking on proto/.
lint-static:
	scripts/lint-static.sh

## monitoring-check: the shipped alerts and dashboard queries (promtool).
monitoring-check:
	scripts/check-monitoring.sh

fuzz-short:
	scripts/fuzz.sh 15

## fuzz: every fuzz target for ten minutes (release builds); FUZZ_SECONDS to change.
fuzz:
	scripts/fuzz.sh $(or $(FUZZ_SECONDS),600)

## soak: ten minutes of mixed traffic through the whole system (make test runs 20 s).
soak: tools
	SOAK_SECONDS=$(or $(SOAK_SECONDS),600) scripts/with-test-stack.sh $(CARGO) nextest run --profile soak -p integration-tests --test soak --no-capture

# The service binaries first: tests/operations.rs runs them as processes.
test-rust:
	$(CARGO) build --workspace --bins
	scripts/with-test-stack.sh $(CARGO) nextest run --workspace --no-fail-fast

## tools: what the tests and make dev need, built or fetched once (cached
# outside the clone): grpcurl, aiosmtpd, Prometheus and cargo-nextest, daprd
# and the Dapr scheduler, Kafka. Each step prints how long it took.
tools:
	scripts/install-tools.sh
	scripts/install-dapr.sh
	scripts/install-kafka.sh

## lint: formatting, clippy (warnings are errors), then lint-static.
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	scripts/lint-static.sh

fmt:
	$(CARGO) fmt --all

## bench: throughput and latency of the task API and of the event path, printed
# (release build; integration-tests/benches/system.rs says what is measured).
# The service binaries are built as shipped, for their memory figures.
bench:
	scripts/install-tools.sh h2load
	$(CARGO) build --release --workspace --exclude integration-tests --bins
	TEST_PG_DURABLE=1 scripts/with-test-stack.sh $(CARGO) bench -p integration-tests --bench system

## token: a development JWT, e.g. `make token USER_ID=alice`.
token:
	@$(CARGO) run -q -p shared --bin dev-token -- $(or $(USER_ID),alice)

## migrate: apply migrations to DATABASE_URL.
migrate:
	$(CARGO) run -q -p migrations --bin migrate -- up

-include mk/deploy.mk
