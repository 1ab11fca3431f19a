#!/usr/bin/env bash
# stack.sh — start/stop the local costflow stack used by tests and the demo:
#   * kafka:      the `tansu` broker (Kafka wire protocol), pinned to 0.6.0
#   * clickhouse: Debian's clickhouse-server with a project-local config
#   * azurite:    the Azure Blob Storage emulator (npm package `azurite`), pinned to 3.35.0
#   * aws:        moto server, the local AWS endpoint (Cost Explorer), pinned in
#                 scripts/moto-requirements.txt
#
# Usage: scripts/stack.sh up|down|status|restart-broker
#
#   up              install what is missing, start every service, wait until ready
#   down            stop every service (TERM, then KILL after 20 s)
#   status          print each service's state; exit 0 if all are up, 1 otherwise
#   restart-broker  stop and start only tansu, with the storage it was started with
#
# All state lives under <repo>/var/ (git-ignored): var/tansu/ (broker data, log,
# pid), var/clickhouse/ (generated config, data, tmp, logs, pid) and var/azurite/
# (blob data, log, pid). The tansu binary is built once with `cargo install` and
# Azurite installed once with `npm install`; both are cached outside the repo.
#
# Environment:
#   COSTFLOW_BROKER_STORAGE        sqlite (default, durable: var/tansu/tansu.db) | memory
#   COSTFLOW_KAFKA_PORT            broker port on 127.0.0.1              (default 9092)
#   COSTFLOW_CLICKHOUSE_HTTP_PORT  ClickHouse HTTP port on 127.0.0.1     (default 8123)
#   COSTFLOW_CLICKHOUSE_TCP_PORT   ClickHouse native port on 127.0.0.1   (default 9000)
#   COSTFLOW_AZURITE_PORT          Azurite blob port on 127.0.0.1        (default 10000)
#   COSTFLOW_STACK_TIMEOUT         seconds to wait for readiness         (default 120)
#   COSTFLOW_CACHE                 cache dir for the tansu build and Azurite (default $HOME/.cache/costflow)
#   COSTFLOW_BROKER_LOG            RUST_LOG filter for tansu             (default warn)
#   COSTFLOW_MOTO_PORT             moto server port on 127.0.0.1         (default 4599)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VAR="$ROOT/var"

TANSU_VERSION=0.6.0
CACHE="${COSTFLOW_CACHE:-$HOME/.cache/costflow}"
TANSU_ROOT="$CACHE/tansu-$TANSU_VERSION"
TANSU_BIN="$TANSU_ROOT/bin/tansu"
TANSU_DIR="$VAR/tansu"
TANSU_PID="$TANSU_DIR/tansu.pid"
TANSU_LOG="$TANSU_DIR/tansu.log"
TANSU_STORAGE_FILE="$TANSU_DIR/storage" # storage engine of the running broker

CH_DIR="$VAR/clickhouse"
CH_PID="$CH_DIR/clickhouse.pid"
CH_LOG_DIR="$CH_DIR/log"
CH_LOG="$CH_LOG_DIR/clickhouse-server.log"

AZURITE_VERSION=3.35.0 # the newest release whose package still supports Debian's Node.js 20
AZURITE_ROOT="$CACHE/azurite-$AZURITE_VERSION"
AZURITE_BIN="$AZURITE_ROOT/node_modules/.bin/azurite-blob"
AZURITE_DIR="$VAR/azurite"
AZURITE_PID="$AZURITE_DIR/azurite.pid"
AZURITE_LOG="$AZURITE_DIR/azurite.log"

HOST=127.0.0.1
KAFKA_PORT="${COSTFLOW_KAFKA_PORT:-9092}"
CH_HTTP_PORT="${COSTFLOW_CLICKHOUSE_HTTP_PORT:-8123}"
CH_TCP_PORT="${COSTFLOW_CLICKHOUSE_TCP_PORT:-9000}"
AZURITE_PORT="${COSTFLOW_AZURITE_PORT:-10000}"
TIMEOUT="${COSTFLOW_STACK_TIMEOUT:-120}"
STOP_GRACE=20

# Debian puts clickhouse-server in /usr/sbin, which is not on a normal user's PATH.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

# ---------------------------------------------------------------- helpers --

log() { printf 'stack: %s\n' "$*" >&2; }
die() { printf 'stack: error: %s\n' "$*" >&2; exit 1; }

# Run as root, through sudo when we are not root.
as_root() {
    if [[ $(id -u) -eq 0 ]]; then "$@"
    elif command -v sudo >/dev/null; then sudo "$@"
    else die "need root to run: $*"
    fi
}

port_open() { # port -> 0 if something accepts TCP connections on $HOST:port
    (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null
}

# pid_alive pidfile pattern -> 0 if the pid in the file runs a command matching pattern
pid_alive() {
    local pid
    [[ -f $1 ]] || return 1
    pid="$(<"$1")"
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    [[ -d /proc/$pid ]] || return 1
    # Read the command line without a pipe: under `set -o pipefail`, `tr | grep -q`
    # fails when grep exits before tr has written (SIGPIPE). While the process is
    # in execve (bash -> env -> tansu) its cmdline reads empty; retry briefly.
    local cmdline i
    for i in 1 2 3 4 5; do
        cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
        [[ -n $cmdline ]] && break
        sleep 0.1
    done
    [[ $cmdline == *"$2"* ]]
}

# start_daemon pidfile logfile workdir cmd... — start cmd in its own session, detached
# from this shell, with stdout/stderr appended to logfile; writes its pid to pidfile.
start_daemon() {
    local pidfile="$1" logfile="$2" workdir="$3"
    shift 3
    (
        cd "$workdir"
        # shellcheck disable=SC2016 # $$ and $@ expand in the inner bash
        setsid bash -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$@" </dev/null >>"$logfile" 2>&1 &
    )
    local i
    for i in $(seq 50); do [[ -s $pidfile ]] && return 0; sleep 0.1; done
    die "could not start: $*"
}

# stop_daemon name pidfile pattern — TERM, wait up to STOP_GRACE s, then KILL.
stop_daemon() {
    local name="$1" pidfile="$2" pattern="$3" pid i
    if ! pid_alive "$pidfile" "$pattern"; then
        rm -f "$pidfile"
        log "$name not running"
        return 0
    fi
    pid="$(<"$pidfile")"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < STOP_GRACE * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "$name (pid $pid) did not stop within ${STOP_GRACE}s, sending KILL"
        kill -KILL "$pid" 2>/dev/null || true
        while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    fi
    rm -f "$pidfile"
    log "$name stopped (pid $pid)"
}

# wait_ready name check-fn pidfile pattern logfile... — poll until check-fn succeeds.
wait_ready() {
    local name="$1" check="$2" pidfile="$3" pattern="$4"
    shift 4
    local deadline=$((SECONDS + TIMEOUT))
    until "$check"; do
        if ! pid_alive "$pidfile" "$pattern"; then
            # Never leave an untracked process behind: if the pid still runs
            # (whatever it looks like now), stop it before forgetting it.
            local pid
            pid="$(cat "$pidfile" 2>/dev/null || true)"
            # start_daemon made it a session leader (setsid): sid == pid.
            if [[ $pid =~ ^[0-9]+$ && $(ps -o sid= -p "$pid" 2>/dev/null | tr -d ' ') == "$pid" ]]; then
                kill -TERM "$pid" 2>/dev/null || true
            fi
            rm -f "$pidfile"
            fail_with_logs "$name exited during startup" "$@"
        fi
        if ((SECONDS >= deadline)); then
            stop_daemon "$name" "$pidfile" "$pattern" # leave nothing half-started behind
            fail_with_logs "$name not ready after ${TIMEOUT}s" "$@"
        fi
        sleep 0.5
    done
}

fail_with_logs() {
    local msg="$1" f
    shift
    printf 'stack: error: %s\n' "$msg" >&2
    for f in "$@"; do
        [[ -s $f ]] || continue
        printf -- '--- last 30 lines of %s ---\n' "${f#"$ROOT"/}" >&2
        tail -n 30 "$f" >&2
    done
    exit 1
}

# ----------------------------------------------------------- installation --

apt_install() { # install Debian packages, running apt-get update only if needed
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y "$@" ||
        { as_root apt-get update && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y "$@"; }
}

ensure_tools() {
    command -v curl >/dev/null || apt_install curl
    command -v setsid >/dev/null || apt_install util-linux
}

ensure_clickhouse() {
    command -v clickhouse-server >/dev/null && return 0
    log "installing clickhouse-server from Debian"
    apt_install clickhouse-server clickhouse-client
    command -v clickhouse-server >/dev/null || die "clickhouse-server still not on PATH after install"
}

ensure_tansu() {
    [[ -x $TANSU_BIN ]] && return 0
    command -v cargo >/dev/null ||
        die "cargo not found: install a current Rust toolchain (https://rustup.rs), then re-run"
    command -v cc >/dev/null || apt_install build-essential pkg-config
    mkdir -p "$CACHE"
    # The lock makes a second `stack.sh up` wait for a build already in progress.
    exec 9>"$CACHE/tansu-install.lock"
    if ! flock -n 9; then
        log "another tansu build is running; waiting for it (lock $CACHE/tansu-install.lock)"
        flock 9
    fi
    if [[ ! -x $TANSU_BIN ]]; then
        log "building tansu $TANSU_VERSION with cargo install — one-time build, takes ~20 min on 2 cores"
        log "  into $TANSU_ROOT (log: $CACHE/tansu-install.log)"
        cargo install tansu --version "$TANSU_VERSION" --locked --features dynostore,libsql \
            --root "$TANSU_ROOT" >"$CACHE/tansu-install.log" 2>&1 ||
            fail_with_logs "cargo install tansu failed" "$CACHE/tansu-install.log"
    fi
    exec 9>&-
    [[ -x $TANSU_BIN ]] || die "tansu build finished but $TANSU_BIN is missing"
}

ensure_azurite() {
    [[ -x $AZURITE_BIN ]] && return 0
    command -v npm >/dev/null || apt_install nodejs npm
    mkdir -p "$AZURITE_ROOT"
    exec 8>"$CACHE/azurite-install.lock"
    if ! flock -n 8; then
        log "another Azurite install is running; waiting for it (lock $CACHE/azurite-install.lock)"
        flock 8
    fi
    if [[ ! -x $AZURITE_BIN ]]; then
        log "installing azurite $AZURITE_VERSION with npm into $AZURITE_ROOT (log: $CACHE/azurite-install.log)"
        npm install --prefix "$AZURITE_ROOT" --no-audit --no-fund --save-exact "azurite@$AZURITE_VERSION" \
            >"$CACHE/azurite-install.log" 2>&1 ||
            fail_with_logs "npm install azurite failed" "$CACHE/azurite-install.log"
    fi
    exec 8>&-
    [[ -x $AZURITE_BIN ]] || die "azurite install finished but $AZURITE_BIN is missing"
}

# ------------------------------------------------------------------ tansu --

storage_url() { # storage name -> tansu storage URL (sqlite paths are relative to cwd)
    case "$1" in
        sqlite) echo "sqlite://tansu.db" ;;
        memory) echo "memory://tansu/" ;;
        *) die "COSTFLOW_BROKER_STORAGE must be sqlite or memory, not '$1'" ;;
    esac
}

PORTS_FILE="$VAR/ports" # the ports the running stack was started with

# The running stack's recorded ports must be the ones asked for; otherwise a port
# check would find another stack on the default ports and report this checkout's
# pids as if they listened there.
wanted_ports() {
    echo "kafka=$KAFKA_PORT http=$CH_HTTP_PORT tcp=$CH_TCP_PORT azurite=$AZURITE_PORT moto=$MOTO_PORT"
}
check_ports() {
    [[ -f $PORTS_FILE ]] || return 0
    local want have
    want="$(wanted_ports)"
    have="$(<"$PORTS_FILE")"
    [[ $have == "$want" ]] && return 0
    if pid_alive "$TANSU_PID" tansu || pid_alive "$CH_PID" clickhouse-server; then
        die "this checkout's stack runs with ports $have, not $want; set the COSTFLOW_*_PORT variables to match, or run 'down' with them first"
    fi
}

tansu_up() { pid_alive "$TANSU_PID" tansu && port_open "$KAFKA_PORT"; }
kafka_port_ready() { port_open "$KAFKA_PORT"; }

start_tansu() { # storage
    local storage="$1" url
    url="$(storage_url "$storage")"
    if tansu_up; then
        local running
        running="$(cat "$TANSU_STORAGE_FILE" 2>/dev/null || echo unknown)"
        [[ $running == "$storage" ]] ||
            log "warning: tansu is already running with $running storage (asked for $storage); run 'down' first to switch"
        return 0
    fi
    if pid_alive "$TANSU_PID" tansu; then
        log "tansu process is alive but port $KAFKA_PORT is closed; restarting it"
        stop_daemon tansu "$TANSU_PID" tansu
    fi
    rm -f "$TANSU_PID"
    port_open "$KAFKA_PORT" && die "port $HOST:$KAFKA_PORT is already in use by another process; choose another with COSTFLOW_KAFKA_PORT"
    mkdir -p "$TANSU_DIR"
    # tansu loads a .env file from its cwd or any parent; an empty one here stops
    # it from picking up a stray .env in the repo or above.
    : >"$TANSU_DIR/.env"
    echo "$storage" >"$TANSU_STORAGE_FILE"
    printf '\n=== %s starting tansu %s (%s) ===\n' "$(date -u +%FT%TZ)" "$TANSU_VERSION" "$url" >>"$TANSU_LOG"
    start_daemon "$TANSU_PID" "$TANSU_LOG" "$TANSU_DIR" \
        env RUST_LOG="${COSTFLOW_BROKER_LOG:-warn}" NO_COLOR=1 \
        "$TANSU_BIN" broker \
        --listener-url "tcp://$HOST:$KAFKA_PORT" \
        --advertised-listener-url "tcp://$HOST:$KAFKA_PORT" \
        --storage-engine "$url"
    wait_ready kafka kafka_port_ready "$TANSU_PID" tansu "$TANSU_LOG"
}

stop_tansu() { stop_daemon tansu "$TANSU_PID" tansu; }

# ------------------------------------------------------------- clickhouse --

ch_ping() { [[ $(curl -sf --max-time 2 "http://$HOST:$CH_HTTP_PORT/ping" 2>/dev/null) == "Ok." ]]; }
clickhouse_up() { pid_alive "$CH_PID" clickhouse-server && ch_ping; }

write_clickhouse_config() {
    mkdir -p "$CH_DIR"/{data,tmp,user_files,format_schemas} "$CH_LOG_DIR"
    cat >"$CH_DIR/config.xml" <<EOF
<?xml version="1.0"?>
<!-- Generated by scripts/stack.sh; edits are overwritten on every 'up'. -->
<yandex>
    <logger>
        <level>information</level>
        <log>$CH_LOG</log>
        <errorlog>$CH_LOG_DIR/clickhouse-server.err.log</errorlog>
        <size>100M</size>
        <count>3</count>
    </logger>
    <listen_host>$HOST</listen_host>
    <http_port>$CH_HTTP_PORT</http_port>
    <tcp_port>$CH_TCP_PORT</tcp_port>
    <!-- no interserver_http_port: single node, nothing to replicate -->
    <path>$CH_DIR/data/</path>
    <tmp_path>$CH_DIR/tmp/</tmp_path>
    <user_files_path>$CH_DIR/user_files/</user_files_path>
    <format_schema_path>$CH_DIR/format_schemas/</format_schema_path>
    <users_config>users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <max_concurrent_queries>100</max_concurrent_queries>
    <mark_cache_size>268435456</mark_cache_size>
    <uncompressed_cache_size>268435456</uncompressed_cache_size>
    <!-- one-node cluster so Distributed tables can be exercised locally -->
    <remote_servers>
        <costflow>
            <shard><replica><host>$HOST</host><port>$CH_TCP_PORT</port></replica></shard>
        </costflow>
    </remote_servers>
    <macros><shard>01</shard><replica>local</replica></macros>
</yandex>
EOF
    cat >"$CH_DIR/users.xml" <<'EOF'
<?xml version="1.0"?>
<!-- Generated by scripts/stack.sh. -->
<yandex>
    <profiles>
        <default>
            <max_memory_usage>4000000000</max_memory_usage>
            <load_balancing>random</load_balancing>
        </default>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries><errors>0</errors><result_rows>0</result_rows>
                <read_rows>0</read_rows><execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
EOF
}

start_clickhouse() {
    clickhouse_up && return 0
    if pid_alive "$CH_PID" clickhouse-server; then
        log "clickhouse-server is alive but not answering /ping; restarting it"
        stop_daemon clickhouse "$CH_PID" clickhouse-server
    fi
    rm -f "$CH_PID"
    port_open "$CH_HTTP_PORT" && die "port $HOST:$CH_HTTP_PORT is already in use by another process; choose another with COSTFLOW_CLICKHOUSE_HTTP_PORT"
    port_open "$CH_TCP_PORT" && die "port $HOST:$CH_TCP_PORT is already in use by another process; choose another with COSTFLOW_CLICKHOUSE_TCP_PORT"
    write_clickhouse_config
    # 18.16 runs fine as root; as any user it just needs to own var/clickhouse.
    start_daemon "$CH_PID" "$CH_LOG_DIR/stdout.log" "$CH_DIR" \
        clickhouse-server --config-file="$CH_DIR/config.xml"
    wait_ready clickhouse ch_ping "$CH_PID" clickhouse-server \
        "$CH_LOG_DIR/stdout.log" "$CH_LOG_DIR/clickhouse-server.err.log" "$CH_LOG"
}

stop_clickhouse() { stop_daemon clickhouse "$CH_PID" clickhouse-server; }

ch_version() { curl -sf --max-time 2 "http://$HOST:$CH_HTTP_PORT/?query=SELECT%20version()" 2>/dev/null || echo '?'; }

# ---------------------------------------------------------------- azurite --

# Any HTTP answer means the blob service is serving (an unsigned request gets 403).
azurite_ping() {
    local code
    code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://$HOST:$AZURITE_PORT/devstoreaccount1?comp=list" 2>/dev/null)"
    [[ $code =~ ^[1-5][0-9][0-9]$ ]]
}
azurite_up() { pid_alive "$AZURITE_PID" azurite-blob && azurite_ping; }

start_azurite() {
    azurite_up && return 0
    if pid_alive "$AZURITE_PID" azurite-blob; then
        log "azurite is alive but not answering; restarting it"
        stop_daemon azurite "$AZURITE_PID" azurite-blob
    fi
    rm -f "$AZURITE_PID"
    port_open "$AZURITE_PORT" && die "port $HOST:$AZURITE_PORT is already in use by another process; choose another with COSTFLOW_AZURITE_PORT"
    mkdir -p "$AZURITE_DIR"
    printf '\n=== %s starting azurite %s ===\n' "$(date -u +%FT%TZ)" "$AZURITE_VERSION" >>"$AZURITE_LOG"
    # --loose and --skipApiVersionCheck let SDKs newer than this Azurite talk to it;
    # --disableTelemetry keeps it from calling home.
    start_daemon "$AZURITE_PID" "$AZURITE_LOG" "$AZURITE_DIR" \
        "$AZURITE_BIN" --blobHost "$HOST" --blobPort "$AZURITE_PORT" \
        --loose --skipApiVersionCheck --disableTelemetry --silent --location "$AZURITE_DIR"
    wait_ready azurite azurite_ping "$AZURITE_PID" azurite-blob "$AZURITE_LOG"
}

stop_azurite() { stop_daemon azurite "$AZURITE_PID" azurite-blob; }

# ------------------------------------------------------------ aws (moto) --
# The local AWS endpoint: moto's server in its own virtual environment,
# var/moto/venv, rebuilt when scripts/moto-requirements.txt changes. Self-contained:
# moto_up, start_moto, stop_moto and moto_report are all the rest of the script uses.

MOTO_DIR="$VAR/moto"
MOTO_VENV="$MOTO_DIR/venv"
MOTO_PID="$MOTO_DIR/moto.pid"
MOTO_LOG="$MOTO_DIR/moto.log"
MOTO_PORT="${COSTFLOW_MOTO_PORT:-4599}"
MOTO_REQUIREMENTS="$ROOT/scripts/moto-requirements.txt"

moto_ping() { curl -sf --max-time 2 -o /dev/null "http://$HOST:$MOTO_PORT/moto-api/data.json" 2>/dev/null; }
moto_up() { pid_alive "$MOTO_PID" moto_server && moto_ping; }

ensure_moto() {
    if cmp -s "$MOTO_REQUIREMENTS" "$MOTO_VENV/requirements.txt" 2>/dev/null &&
        [[ -x $MOTO_VENV/bin/moto_server ]]; then
        return 0
    fi
    python3 -c 'import venv, ensurepip' 2>/dev/null || apt_install python3 python3-venv
    log "installing moto into ${MOTO_VENV#"$ROOT"/} (log: ${MOTO_DIR#"$ROOT"/}/install.log)"
    mkdir -p "$MOTO_DIR"
    rm -rf "$MOTO_VENV"
    { python3 -m venv "$MOTO_VENV" &&
        "$MOTO_VENV/bin/python3" -m pip install --disable-pip-version-check \
            -r "$MOTO_REQUIREMENTS"; } >"$MOTO_DIR/install.log" 2>&1 ||
        fail_with_logs "installing moto failed" "$MOTO_DIR/install.log"
    cp "$MOTO_REQUIREMENTS" "$MOTO_VENV/requirements.txt"
}

start_moto() {
    moto_up && return 0
    if pid_alive "$MOTO_PID" moto_server; then
        log "moto_server is alive but not answering; restarting it"
        stop_moto
    fi
    rm -f "$MOTO_PID"
    port_open "$MOTO_PORT" && die "port $HOST:$MOTO_PORT is already in use by another process; choose another with COSTFLOW_MOTO_PORT"
    mkdir -p "$MOTO_DIR"
    printf '\n=== %s starting moto_server ===\n' "$(date -u +%FT%TZ)" >>"$MOTO_LOG"
    start_daemon "$MOTO_PID" "$MOTO_LOG" "$MOTO_DIR" \
        "$MOTO_VENV/bin/python3" "$MOTO_VENV/bin/moto_server" -H "$HOST" -p "$MOTO_PORT"
    wait_ready aws moto_ping "$MOTO_PID" moto_server "$MOTO_LOG"
}

stop_moto() { stop_daemon aws "$MOTO_PID" moto_server; }

moto_report() { # one status line; returns 0 if moto answers
    if moto_up; then
        printf '%-10s http://%s:%s (moto_server, %s) pid %s\n' aws "$HOST" "$MOTO_PORT" \
            "$(grep -v '^#' "$MOTO_REQUIREMENTS" | tr -d '\n')" "$(<"$MOTO_PID")"
    else
        printf '%-10s down\n' aws
        return 1
    fi
}

# --------------------------------------------------------------- commands --

report() { # prints one line per service; returns 0 if all are up
    local ok=0
    if tansu_up; then
        printf '%-10s %s (tansu %s, %s) pid %s\n' kafka "$HOST:$KAFKA_PORT" "$TANSU_VERSION" \
            "$(cat "$TANSU_STORAGE_FILE" 2>/dev/null || echo '?')" "$(<"$TANSU_PID")"
    else
        printf '%-10s down\n' kafka
        ok=1
    fi
    if clickhouse_up; then
        printf '%-10s http://%s:%s tcp %s:%s (clickhouse-server %s) pid %s\n' clickhouse \
            "$HOST" "$CH_HTTP_PORT" "$HOST" "$CH_TCP_PORT" "$(ch_version)" "$(<"$CH_PID")"
    else
        printf '%-10s down\n' clickhouse
        ok=1
    fi
    if azurite_up; then
        printf '%-10s http://%s:%s/devstoreaccount1 (azurite %s) pid %s\n' azurite \
            "$HOST" "$AZURITE_PORT" "$AZURITE_VERSION" "$(<"$AZURITE_PID")"
    else
        printf '%-10s down\n' azurite
        ok=1
    fi

    moto_report || ok=1
    return $ok
}

cmd_up() {
    local storage="${COSTFLOW_BROKER_STORAGE:-sqlite}"
    storage_url "$storage" >/dev/null # validate before doing any work
    ensure_tools
    ensure_clickhouse
    ensure_tansu
    ensure_azurite
    ensure_moto
    mkdir -p "$VAR"
    check_ports
    wanted_ports >"$PORTS_FILE"
    start_clickhouse
    start_tansu "$storage"
    start_azurite
    start_moto
    report
}

cmd_down() {
    stop_moto
    stop_tansu
    stop_clickhouse
    stop_azurite
    rm -f "$PORTS_FILE"
}

cmd_restart_broker() {
    local storage
    storage="$(cat "$TANSU_STORAGE_FILE" 2>/dev/null || echo "${COSTFLOW_BROKER_STORAGE:-sqlite}")"
    check_ports
    ensure_tansu
    stop_tansu
    start_tansu "$storage"
    report
}

main() {
    case "${1:-}" in
        up) cmd_up ;;
        down) cmd_down ;;
        status) check_ports; report ;;
        restart-broker) cmd_restart_broker ;;
        *) echo "usage: $0 up|down|status|restart-broker" >&2; exit 2 ;;
    esac
}

main "$@"
