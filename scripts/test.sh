#!/usr/bin/env bash
# Runs every costflow check on a fresh Debian machine with the Rust toolchain:
# installs and starts the local stack (tansu broker, ClickHouse, Azurite; see stack.sh),
# then formatting, lints, and the whole test suite against the real stack.
#
# Reads the same COSTFLOW_* variables as stack.sh; the tests reach the stack at
# COSTFLOW_BROKERS (default 127.0.0.1:9092) and COSTFLOW_CLICKHOUSE_URL
# (default http://127.0.0.1:8123).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "local stack"
scripts/stack.sh up

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test"
cargo test --workspace --locked
