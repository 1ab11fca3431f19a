#!/usr/bin/env bash
# The main job, end to end on this machine: brings up the local stack, creates the
# topics and the ClickHouse schema, ingests cost files (the ones given, or demo
# data generated into var/demo), runs the store consumer until it has caught up,
# prints the cost per billing account and the top services, and leaves the API
# serving on COSTFLOW_API_LISTEN (default 127.0.0.1:8080) until Ctrl-C.
#
#   scripts/demo.sh                      # 90 days of generated demo data
#   scripts/demo.sh FILE_OR_DIR...       # your FOCUS CSV files
set -euo pipefail
# Paths given are relative to where the user stands, not to the repository.
args=()
for arg in "$@"; do args+=("$(realpath -- "$arg")"); done
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "local stack"
scripts/stack.sh up
# Reach the stack where stack.sh put it, unless told otherwise.
export COSTFLOW_BROKERS="${COSTFLOW_BROKERS:-127.0.0.1:${COSTFLOW_KAFKA_PORT:-9092}}"
export COSTFLOW_CLICKHOUSE_URL="${COSTFLOW_CLICKHOUSE_URL:-http://127.0.0.1:${COSTFLOW_CLICKHOUSE_HTTP_PORT:-8123}}"

step "building costflow (release)"
cargo build --release --locked -p costflow
costflow="${CARGO_TARGET_DIR:-target}/release/costflow"

step "topics and schema"
"$costflow" topics apply --replication-factor 1
"$costflow" migrate

if [[ ${#args[@]} -gt 0 ]]; then
  inputs=("${args[@]}")
else
  step "generating demo data"
  rm -rf var/demo
  "$costflow" generate --out var/demo
  # One FOCUS file per billing period; spikes.csv beside them is the answer key.
  inputs=(var/demo/focus-*.csv)
fi

step "ingest"
"$costflow" ingest focus "${inputs[@]}"

step "store consumer (until caught up)"
"$costflow" consume store --until-caught-up

step "report"
"$costflow" report

listen=${COSTFLOW_API_LISTEN:-127.0.0.1:8080}
step "API on http://$listen (Ctrl-C to stop)"
cat <<HELP
  curl 'http://$listen/v1/costs?from=$(date -u -d '-35 days' +%F)&to=$(date -u +%F)&granularity=month&group_by=BillingAccountId,ServiceName'
  curl 'http://$listen/readyz'
  curl 'http://$listen/v1/openapi.json'
HELP
exec "$costflow" api --listen "$listen"
