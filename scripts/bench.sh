#!/usr/bin/env bash
# Runs costflow's stage benchmarks and their side-by-side baselines in one go and
# prints the table that BENCHMARKS.md records. Every figure of one run comes from
# the same generated input, the same broker and the same ClickHouse, so the ratios
# hold even where the absolute rates of a shared machine do not.
#
#   stage_a            costflow parse + normalise + Avro encode, no broker (one core)
#   ingest             costflow ingest focus (cur, azure-file): parse + normalise +
#                      encode + produce
#   bare_produce       the same encoded messages sent by a bare librdkafka BaseProducer
#   store              costflow consume store: consume + decode + insert + projection
#   clickhouse_client  the same rows bulk-inserted as CSV by clickhouse-client
#   duckdb             DuckDB read_csv scanning and summing the same files
#   e2e                ingest and store running together: files -> visible in the
#                      daily projection
#   latency            a steady load on cost.records with a store consumer running:
#                      p50 / p99 from a probe record's send to its account showing
#                      in the daily projection (costflow-bench latency)
#   manifest           an Azure export run of about a million rows uploaded to the
#                      stack's Azurite, parts first and manifest last, while
#                      `ingest azure --watch-secs 1` and `consume store` run:
#                      seconds from the manifest to every row visible in the
#                      daily projection (costflow-bench manifest-latency)
#
# Each one is its own process, measured by `costflow-bench measure` (wall time,
# CPU time and peak RSS from getrusage). Later consumers (score, rules, kpi) are
# measured the same way: add a `measure KEY "label" RECORDS -- command` line after
# the store stage, reading the same topic with their own group.
#
# Environment:
#   COSTFLOW_BENCH_FORMAT     focus (default), cur or azure: the source format the
#                             input is generated in and ingested from; cur is the
#                             AWS payer accounts' Cost and Usage Reports (`generate
#                             --layout cur`, about 22,700 lines per unit of scale),
#                             azure the Azure account's export runs (`--layout
#                             azure-export`, about 6,800 rows per unit over 90
#                             days, read as files by `ingest azure-file`)
#   COSTFLOW_BENCH_SCALE      generator scale, about 28,000 FOCUS rows per unit
#                             (default 12)
#   COSTFLOW_BENCH_DAYS       days of generated data (default 90)
#   COSTFLOW_BENCH_ROUNDS     ingest / bare-producer and store / clickhouse-client
#                             pairs, interleaved (default 3)
#   COSTFLOW_BENCH_BROKER     memory (default): start a tansu with in-memory storage
#                             on COSTFLOW_BENCH_KAFKA_PORT (default 19092) for the
#                             run and stop it after; sqlite: use the stack's broker
#                             at COSTFLOW_BROKERS (scripts/stack.sh up)
#   COSTFLOW_CLICKHOUSE_URL   ClickHouse HTTP (default http://127.0.0.1:8123)
#   COSTFLOW_CLICKHOUSE_TCP_PORT  its native port, for clickhouse-client (default 9000)
#   COSTFLOW_BENCH_STEPS      which of the steps above to run, by key (default all:
#                             "stage_a ingest store duckdb e2e latency"); `ingest`
#                             includes bare_produce, `store` clickhouse_client and
#                             needs `ingest`, `duckdb` installs the pinned duckdb into
#                             var/python-bench. "stage_a e2e" is the 10M-row run,
#                             which the in-memory broker holds only once in 24 GiB
#   COSTFLOW_BENCH_LATENCY_SECS   seconds of steady load for the latency step
#                             (default 300)
#   COSTFLOW_BENCH_LATENCY_RATE   records per second of that load (default 20000)
#   COSTFLOW_BENCH_STORE_ARGS     extra `consume store` flags for the latency step's
#                             consumer, e.g. "--live-refresh-interval-ms 500"
#   COSTFLOW_BENCH_MANIFEST_SCALE generator scale of the manifest step's one-month
#                             Azure export run, about 2,335 rows per unit
#                             (default 430: about a million rows)
#   COSTFLOW_AZURITE_URL      the stack's Azurite, with the account (default
#                             http://127.0.0.1:10000/devstoreaccount1)
#
# Output: var/bench/run-<time>/results.jsonl and table.md; the table is printed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
step() { printf '\n==> %s\n' "$*" >&2; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }

FORMAT="${COSTFLOW_BENCH_FORMAT:-focus}"
SCALE="${COSTFLOW_BENCH_SCALE:-12}"
DAYS="${COSTFLOW_BENCH_DAYS:-90}"
ROUNDS="${COSTFLOW_BENCH_ROUNDS:-3}"
BROKER_KIND="${COSTFLOW_BENCH_BROKER:-memory}"
BENCH_PORT="${COSTFLOW_BENCH_KAFKA_PORT:-19092}"
CH_URL="${COSTFLOW_CLICKHOUSE_URL:-http://127.0.0.1:8123}"
CH_TCP_PORT="${COSTFLOW_CLICKHOUSE_TCP_PORT:-9000}"
STEPS=" ${COSTFLOW_BENCH_STEPS:-stage_a ingest store duckdb e2e latency manifest} "
DUCKDB_VERSION=1.1.3
LATENCY_SECS="${COSTFLOW_BENCH_LATENCY_SECS:-300}"
LATENCY_RATE="${COSTFLOW_BENCH_LATENCY_RATE:-20000}"
read -r -a STORE_ARGS <<<"${COSTFLOW_BENCH_STORE_ARGS:-}"
MANIFEST_SCALE="${COSTFLOW_BENCH_MANIFEST_SCALE:-430}"
AZURITE_URL="${COSTFLOW_AZURITE_URL:-http://127.0.0.1:10000/devstoreaccount1}"
TANSU_BIN="${COSTFLOW_CACHE:-$HOME/.cache/costflow}/tansu-0.6.0/bin/tansu"
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

ID="$(date -u +%Y%m%dT%H%M%SZ)-$$"
RUN="$ROOT/var/bench/run-$ID"
RESULTS="$RUN/results.jsonl"
DATA="$ROOT/var/bench/data/$FORMAT-scale$SCALE-days$DAYS"
# Per format: the generator's layout, the files under $DATA, the cost column DuckDB
# sums, and the `costflow ingest` arguments that read them.
case "$FORMAT" in
    focus)
        LAYOUT=focus CSV_GLOB='*.csv' COST_COLUMN=BilledCost CSV_OPTIONS=''
        INGEST=(focus "$DATA")
        ;;
    cur)
        # DuckDB 1.1.3 fails with an internal error on these parts unless it
        # matches their columns by name.
        LAYOUT=cur CSV_GLOB='*/*/*/*/*.csv' COST_COLUMN=lineItem/UnblendedCost
        CSV_OPTIONS=', union_by_name=true'
        INGEST=(cur "$DATA")
        ;;
    azure)
        LAYOUT=azure-export CSV_GLOB='*/*/*.csv' COST_COLUMN=CostInBillingCurrency CSV_OPTIONS=''
        INGEST=() # every part, named once they exist (below)
        ;;
    *) die "COSTFLOW_BENCH_FORMAT must be focus, cur or azure, not '$FORMAT'" ;;
esac
for step_name in $STEPS; do
    case "$step_name" in
        stage_a | ingest | store | duckdb | e2e | latency | manifest) ;;
        *) die "COSTFLOW_BENCH_STEPS: no step '$step_name' (steps: stage_a ingest store duckdb e2e latency manifest)" ;;
    esac
done
DATABASE="costflow_bench_${ID//[^A-Za-z0-9]/_}"
# Every database a step creates, dropped at exit.
DATABASES=("$DATABASE" "${DATABASE}_e2e" "${DATABASE}_lat" "${DATABASE}_man")
mkdir -p "$RUN"
: >"$RESULTS" # a run of the latency step alone measures no process

step "release build"
cargo build --release --locked -p costflow -p costflow-bench
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
COSTFLOW="$TARGET/release/costflow"
BENCH="$TARGET/release/costflow-bench"

running() { [[ $STEPS == *" $1 "* ]]; }
if running store && ! running ingest; then
    die "the store step reads what the ingest step wrote: add ingest to COSTFLOW_BENCH_STEPS"
fi
ch() { curl -sf "$CH_URL" --data-binary "$1"; }

# topics PREFIX: costflow's topics under PREFIX.
topics() { COSTFLOW_TOPIC_PREFIX="$1" "$COSTFLOW" topics apply --replication-factor 1 >/dev/null; }
# fresh PREFIX DATABASE: a step's own topics and migrated database.
fresh() {
    topics "$1"
    COSTFLOW_CLICKHOUSE_DATABASE="$2" "$COSTFLOW" migrate >/dev/null
}

# measure KEY LABEL RECORDS -- command...: run it as its own process and record it.
measure() {
    local key="$1" label="$2" records="$3"
    shift 4
    "$BENCH" measure --key "$key" --label "$label" --records "$records" --results "$RESULTS" -- "$@"
}

step "stack"
if ! curl -sf --max-time 2 "$CH_URL/ping" >/dev/null; then
    scripts/stack.sh up
fi
TANSU_PID=""
STORE_PID=""
WATCH_PID=""
cleanup() {
    for pid in $STORE_PID $WATCH_PID; do
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    for db in "${DATABASES[@]}"; do
        curl -sf "$CH_URL" --data-binary "DROP DATABASE IF EXISTS $db" >/dev/null || true
    done
    if [[ -n $TANSU_PID ]]; then
        kill -TERM "$TANSU_PID" 2>/dev/null || true
        wait "$TANSU_PID" 2>/dev/null || true
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
case "$BROKER_KIND" in
    memory)
        [[ -x $TANSU_BIN ]] || scripts/stack.sh up # builds tansu once
        (exec 3<>"/dev/tcp/127.0.0.1/$BENCH_PORT") 2>/dev/null &&
            die "port $BENCH_PORT is in use; set COSTFLOW_BENCH_KAFKA_PORT"
        mkdir -p "$RUN/tansu"
        : >"$RUN/tansu/.env"
        (cd "$RUN/tansu" && exec env RUST_LOG=warn NO_COLOR=1 "$TANSU_BIN" broker \
            --listener-url "tcp://127.0.0.1:$BENCH_PORT" \
            --advertised-listener-url "tcp://127.0.0.1:$BENCH_PORT" \
            --storage-engine memory://tansu/ >"$RUN/tansu/tansu.log" 2>&1) &
        TANSU_PID=$!
        for _ in $(seq 100); do
            (exec 3<>"/dev/tcp/127.0.0.1/$BENCH_PORT") 2>/dev/null && break
            sleep 0.2
        done
        export COSTFLOW_BROKERS="127.0.0.1:$BENCH_PORT"
        ;;
    sqlite)
        curl -sf --max-time 2 "$CH_URL/ping" >/dev/null && [[ -n ${COSTFLOW_BROKERS:-} ]] ||
            scripts/stack.sh up
        export COSTFLOW_BROKERS="${COSTFLOW_BROKERS:-127.0.0.1:9092}"
        ;;
    *) die "COSTFLOW_BENCH_BROKER must be memory or sqlite, not '$BROKER_KIND'" ;;
esac
export COSTFLOW_CLICKHOUSE_URL="$CH_URL" COSTFLOW_CLICKHOUSE_DATABASE="$DATABASE"
export COSTFLOW_LOG=warn

step "input: costflow generate --layout $LAYOUT --scale $SCALE --days $DAYS"
if [[ ! -f $DATA/.complete ]]; then
    rm -rf "$DATA"
    "$COSTFLOW" generate --out "$DATA" --layout "$LAYOUT" --days "$DAYS" --scale "$SCALE" \
        --end 2026-01-01 >&2
    rm -f "$DATA/spikes.csv"
    touch "$DATA/.complete"
fi
# Azure's parts are read as files (`ingest azure` reads the same runs from Blob
# Storage; the manifest step measures that path).
if [[ $FORMAT == azure ]]; then INGEST=(azure-file --dataset AmortizedCost "$DATA"/$CSV_GLOB); fi
# Encoding the messages once, untimed, counts the records and gives the bare
# producer and the latency load the very payloads costflow sends.
PAYLOADS=()
if running ingest || running latency; then PAYLOADS=(--payloads-out "$RUN/payloads.bin"); fi
RECORDS="$("$BENCH" stage --format "$FORMAT" "${PAYLOADS[@]}" "$DATA" | awk '{print $2}')"
[[ $RECORDS -gt 0 ]] || die "no records in $DATA"
echo "records: $RECORDS ($(du -sh "$DATA" | cut -f1) of CSV)" >&2

if running stage_a; then
    step "stage A without broker: parse + normalise + encode"
    measure stage_a "parse+normalise+encode ($FORMAT)" "$RECORDS" -- \
        "$BENCH" stage --format "$FORMAT" "$DATA" >/dev/null
fi

if running ingest; then
    step "stage A: ingest against bare BaseProducer, $ROUNDS rounds interleaved ($BROKER_KIND broker)"
    for round in $(seq "$ROUNDS"); do
        prefix="bench-$ID-r$round-"
        topics "$prefix"
        topics "${prefix}bare-"
        COSTFLOW_TOPIC_PREFIX="$prefix" measure ingest "costflow ingest ${INGEST[0]} ($BROKER_KIND broker)" "$RECORDS" -- \
            "$COSTFLOW" ingest "${INGEST[@]}" --source-version 2026-01-01T00:00:00Z >/dev/null
        measure bare_produce "rdkafka BaseProducer, same payloads ($BROKER_KIND broker)" "$RECORDS" -- \
            "$BENCH" bare-produce --topic "${prefix}bare-cost.records" --payloads "$RUN/payloads.bin" >/dev/null
    done
fi

if running store; then
    step "stage C: consume store against clickhouse-client, $ROUNDS rounds interleaved"
    # Each round stores the first round's ingest topic into its own database,
    # then bulk-inserts the very rows it stored, as CSV, into a table of the same
    # shape there.
    for round in $(seq "$ROUNDS"); do
        db="${DATABASE}_s$round"
        DATABASES+=("$db")
        COSTFLOW_TOPIC_PREFIX="bench-$ID-r1-" COSTFLOW_CLICKHOUSE_DATABASE="$db" \
            measure store "costflow consume store ($BROKER_KIND broker)" "$RECORDS" -- \
            "$COSTFLOW" consume store --until-caught-up --group-id "bench-$ID-store-$round" >/dev/null
        ch "SELECT * FROM $db.line_items FORMAT CSV" >"$RUN/line_items.csv"
        ch "CREATE TABLE $db.line_items_csv AS $db.line_items"
        STORED="$(wc -l <"$RUN/line_items.csv")"
        [[ $STORED -eq $RECORDS ]] || die "store kept $STORED rows of $RECORDS"
        # Blocks of 50,000 rows: one block of the whole file runs ClickHouse 18.16
        # out of its 4 GB query memory limit at a few hundred thousand rows.
        measure clickhouse_client "clickhouse-client INSERT FORMAT CSV, same rows" "$STORED" -- \
            clickhouse-client --host 127.0.0.1 --port "$CH_TCP_PORT" --database "$db" \
            --max_insert_block_size 50000 \
            --query "INSERT INTO line_items_csv FORMAT CSV" <"$RUN/line_items.csv"
        rm -f "$RUN/line_items.csv"
    done
fi

if running duckdb; then
    step "DuckDB read_csv $DUCKDB_VERSION: scan and sum the same files"
    PY="$ROOT/var/python-bench/bin/python3"
    if ! "$PY" -c "import duckdb; assert duckdb.__version__ == '$DUCKDB_VERSION'" 2>/dev/null; then
        rm -rf var/python-bench
        python3 -m venv var/python-bench &&
            "$PY" -m pip install --quiet --disable-pip-version-check "duckdb==$DUCKDB_VERSION" ||
            echo "bench: warning: could not install duckdb $DUCKDB_VERSION; no DuckDB figure" >&2
    fi
    if "$PY" -c "import duckdb" 2>/dev/null; then
        measure duckdb "DuckDB read_csv + sum($COST_COLUMN), $(nproc) threads" "$RECORDS" -- \
            "$PY" -c "import duckdb, sys; print(duckdb.sql(\"SELECT count(*), sum(\\\"$COST_COLUMN\\\"::DECIMAL(38,15)) FROM read_csv('$DATA/$CSV_GLOB'$CSV_OPTIONS)\").fetchall())"
    fi
fi

if running e2e; then
    step "end to end: ingest and store together, files -> visible in cost_daily"
    # Both processes start at once on fresh topics and a fresh database; the run
    # ends when the projection counts every record. Measured as one process
    # (CPU is both together, peak RSS the larger of the two).
    prefix="bench-$ID-e2e-"
    fresh "$prefix" "${DATABASE}_e2e"
    COSTFLOW_TOPIC_PREFIX="$prefix" COSTFLOW_CLICKHOUSE_DATABASE="${DATABASE}_e2e" \
        measure e2e "ingest + store together, files -> projection ($BROKER_KIND broker)" "$RECORDS" -- \
        bash -c '
            set -euo pipefail
            "$1" consume store --group-id "$2" >/dev/null & store=$!
            trap "kill -TERM $store 2>/dev/null || true" EXIT
            trap "exit 143" TERM
            "$1" ingest "${@:4}" --source-version 2026-01-01T00:00:00Z >/dev/null
            query="SELECT sum(line_items) FROM $COSTFLOW_CLICKHOUSE_DATABASE.cost_daily_refresh FINAL"
            deadline=$((SECONDS + 3600))
            until [[ $(curl -sf "$COSTFLOW_CLICKHOUSE_URL" --data-binary "$query") == "$3" ]]; do
                kill -0 $store || { echo "bench: the store consumer died" >&2; exit 1; }
                ((SECONDS < deadline)) ||
                    { echo "bench: the projection never counted all $3 records" >&2; exit 1; }
                sleep 0.2
            done
            kill -TERM $store; wait $store' \
        e2e "$COSTFLOW" "bench-$ID-e2e" "$RECORDS" "${INGEST[@]}"
fi

LATENCY_ARGS=()
if running latency; then
    step "latency: $LATENCY_RATE records/s for $LATENCY_SECS s, produce -> visible in cost_daily"
    # Its own topics and database, and a store consumer at its defaults, running
    # for the whole load; the probes are read back the way the API reads them.
    prefix="bench-$ID-lat-"
    # Migrated first, so the probes' first reads find the projection's tables.
    fresh "$prefix" "${DATABASE}_lat"
    COSTFLOW_TOPIC_PREFIX="$prefix" COSTFLOW_CLICKHOUSE_DATABASE="${DATABASE}_lat" \
        "$COSTFLOW" consume store --group-id "bench-$ID-lat" "${STORE_ARGS[@]}" \
        >"$RUN/latency-store.log" 2>&1 &
    STORE_PID=$!
    COSTFLOW_CLICKHOUSE_DATABASE="${DATABASE}_lat" "$BENCH" latency \
        --topic "${prefix}cost.records" --payloads "$RUN/payloads.bin" \
        --rate "$LATENCY_RATE" --seconds "$LATENCY_SECS" --out "$RUN/latency.json" >&2
    kill -TERM "$STORE_PID"
    wait "$STORE_PID" || true
    STORE_PID=""
    LATENCY_ARGS=(--latency "$RUN/latency.json")
fi
rm -f "$RUN/payloads.bin"

MANIFEST_ARGS=()
if running manifest; then
    step "manifest -> visible: an Azure export run (scale $MANIFEST_SCALE, one month) through Azurite"
    AZURE_DATA="$ROOT/var/bench/data/azure-export-scale$MANIFEST_SCALE"
    if [[ ! -f $AZURE_DATA/.complete ]]; then
        rm -rf "$AZURE_DATA"
        "$COSTFLOW" generate --layout azure-export --out "$AZURE_DATA" --days 31 \
            --end 2026-01-01 --scale "$MANIFEST_SCALE" >&2
        touch "$AZURE_DATA/.complete"
    fi
    manifest_file="$(find "$AZURE_DATA" -name manifest.json | head -n 1)"
    [[ -n $manifest_file ]] || die "no export run in $AZURE_DATA"
    prefix="bench-$ID-man-"
    container="bench-${ID,,}"
    # Azurite's published development key, read by costflow and costflow-bench
    # alike from the environment, as a real key should be.
    export COSTFLOW_AZURE_STORAGE_KEY="${COSTFLOW_AZURE_STORAGE_KEY:-Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==}"
    fresh "$prefix" "${DATABASE}_man"
    manifest_latency() {
        COSTFLOW_CLICKHOUSE_DATABASE="${DATABASE}_man" "$BENCH" manifest-latency \
            --endpoint "$AZURITE_URL" --container "$container" --prefix exports/ \
            --run-dir "$(dirname "$manifest_file")" "$@"
    }
    # The parts land before anything watches; the watcher must leave them alone
    # until the manifest names them.
    manifest_latency --parts-only >&2
    COSTFLOW_TOPIC_PREFIX="$prefix" COSTFLOW_CLICKHOUSE_DATABASE="${DATABASE}_man" \
        "$COSTFLOW" consume store --group-id "bench-$ID-man" >"$RUN/manifest-store.log" 2>&1 &
    STORE_PID=$!
    COSTFLOW_TOPIC_PREFIX="$prefix" "$COSTFLOW" ingest azure --account devstoreaccount1 \
        --container "$container" --prefix exports/ --endpoint "$AZURITE_URL" \
        --watch-secs 1 >"$RUN/manifest-ingest.log" 2>&1 &
    WATCH_PID=$!
    sleep 5 # both have started, joined and looked once
    manifest_latency --out "$RUN/manifest.json" \
        --process "ingest azure=$WATCH_PID" --process "consume store=$STORE_PID" >&2
    kill -TERM "$WATCH_PID" "$STORE_PID"
    wait "$WATCH_PID" "$STORE_PID" || true
    WATCH_PID=""
    STORE_PID=""
    MANIFEST_ARGS=(--manifest "$RUN/manifest.json")
fi

step "results ($RESULTS)"
{
    echo "Run $ID on $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM," \
        "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), load average $(cut -d' ' -f1-3 /proc/loadavg);" \
        "broker: tansu 0.6.0 ($BROKER_KIND); ClickHouse $(ch 'SELECT version()'); $RECORDS records of $FORMAT input, scale $SCALE, $DAYS days."
    echo
    "$BENCH" table "$RESULTS" "${LATENCY_ARGS[@]}" "${MANIFEST_ARGS[@]}"
} | tee "$RUN/table.md"
