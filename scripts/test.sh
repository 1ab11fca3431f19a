#!/usr/bin/env bash
# Runs every costflow check on a fresh Debian machine with the Rust toolchain:
# installs and starts the local stack (tansu broker, ClickHouse, Azurite, moto as
# the local AWS endpoint; see stack.sh), then formatting, lints, the whole test
# suite against the real stack, and a short fuzzing run of every parser.
#
# Reads the same COSTFLOW_* variables as stack.sh (ports, broker storage); the
# tests reach the stack at COSTFLOW_BROKERS and COSTFLOW_CLICKHOUSE_URL, which
# default to the ports stack.sh was given.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "local stack"
scripts/stack.sh up
# Reach the stack where stack.sh put it, unless told otherwise.
export COSTFLOW_BROKERS="${COSTFLOW_BROKERS:-127.0.0.1:${COSTFLOW_KAFKA_PORT:-9092}}"
export COSTFLOW_CLICKHOUSE_URL="${COSTFLOW_CLICKHOUSE_URL:-http://127.0.0.1:${COSTFLOW_CLICKHOUSE_HTTP_PORT:-8123}}"
export COSTFLOW_AZURITE_URL="${COSTFLOW_AZURITE_URL:-http://127.0.0.1:${COSTFLOW_AZURITE_PORT:-10000}/devstoreaccount1}"
export COSTFLOW_MOTO_URL="${COSTFLOW_MOTO_URL:-http://127.0.0.1:${COSTFLOW_MOTO_PORT:-4599}}"

step "python for the collector interop tests"
# A virtual environment in var/python with the pinned clients of
# docs/examples/python/requirements.txt (confluent-kafka bundles its own librdkafka,
# which talks to the local tansu broker). tests/collectors.rs runs it, or
# COSTFLOW_PYTHON if set.
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y python3 python3-venv ||
        { as_root apt-get update &&
          as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y python3 python3-venv; }
fi
requirements=docs/examples/python/requirements.txt
if ! cmp -s "$requirements" var/python/requirements.txt 2>/dev/null; then
    rm -rf var/python
    python3 -m venv var/python
    var/python/bin/python3 -m pip install --quiet --disable-pip-version-check -r "$requirements"
    cp "$requirements" var/python/requirements.txt
fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test"
cargo test --workspace --locked

step "fuzz: each parser briefly"
scripts/fuzz.sh

step "benchmark regression guard"
# Stage A's parse + normalise + encode and Avro decode, timed as ratios to a
# reference loop in the same run and checked against
# crates/ingest/benches/guard-baseline.json; fails on a 2x slowdown. A few seconds
# once built (the first run builds the release profile). scripts/bench.sh runs the
# full stage benchmarks; see BENCHMARKS.md. Built without the cloud clients and
# Kafka (--no-default-features): the guard measures the parsers and the codec.
cargo bench --locked -p costflow-ingest --no-default-features --bench guard
