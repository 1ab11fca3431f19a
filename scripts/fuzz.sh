#!/usr/bin/env bash
# Runs every parser fuzz target (crates/*/fuzz) for a short while: arbitrary bytes
# as a cost file must give records, rejects or a file error, never a panic.
# scripts/test.sh calls it; run it alone for longer:
#
#   COSTFLOW_FUZZ_SECONDS=600 scripts/fuzz.sh [TARGET...]
#
# cargo-fuzz is installed once into the same cache as the tansu broker. It runs on
# the stable toolchain with RUSTC_BOOTSTRAP=1 and without a sanitizer (Rust code
# is memory-safe; a panic is what is looked for). The real files in
# ../shared/data seed the corpus when they are there; new inputs go to
# var/fuzz/corpus/TARGET, and a crashing input to var/fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_FUZZ_VERSION=0.13.2
CACHE="${COSTFLOW_CACHE:-$HOME/.cache/costflow}"
CARGO_FUZZ="$CACHE/cargo-fuzz-$CARGO_FUZZ_VERSION/bin/cargo-fuzz"
SECONDS_EACH="${COSTFLOW_FUZZ_SECONDS:-20}"
ROOT="$(pwd)"
SHARED="$ROOT/../shared/data"

if [[ ! -x $CARGO_FUZZ ]]; then
    echo "fuzz: installing cargo-fuzz $CARGO_FUZZ_VERSION into $CACHE (once)" >&2
    cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked \
        --root "$CACHE/cargo-fuzz-$CARGO_FUZZ_VERSION" --quiet
fi

# Seed directories per target, when the shared data is there.
seeds() {
    case "$1" in
        focus) echo "$SHARED/focus" ;;
        cur) echo "$SHARED/aws-cur" ;;
        azure) echo "$SHARED/azure-export" ;;
        cost_explorer) echo "$SHARED/aws-ce" ;;
    esac
}

wanted=("$@")
status=0
for fuzz_dir in crates/*/fuzz; do
    crate_dir="$(dirname "$fuzz_dir")"
    for target_file in "$fuzz_dir"/fuzz_targets/*.rs; do
        target="$(basename "$target_file" .rs)"
        if [[ ${#wanted[@]} -gt 0 && ! " ${wanted[*]} " =~ " $target " ]]; then
            continue
        fi
        corpus="var/fuzz/corpus/$target"
        artifacts="var/fuzz/artifacts/$target/"
        mkdir -p "$corpus" "$artifacts"
        dirs=("$ROOT/$corpus")
        seed="$(seeds "$target")"
        [[ -n $seed && -d $seed ]] && dirs+=("$seed")
        echo "fuzz: $target for ${SECONDS_EACH}s (crate $crate_dir)" >&2
        if ! (cd "$crate_dir" && RUSTC_BOOTSTRAP=1 "$CARGO_FUZZ" run --sanitizer none -O "$target" \
            "${dirs[@]}" -- -max_total_time="$SECONDS_EACH" -max_len=65536 \
            -artifact_prefix="$ROOT/$artifacts" -print_final_stats=1 \
            2>"$ROOT/var/fuzz/$target.log"); then
            echo "fuzz: $target FAILED; last lines of var/fuzz/$target.log:" >&2
            tail -n 40 "var/fuzz/$target.log" >&2
            status=1
        else
            grep -E '^stat::number_of_executed_units|^Done' "var/fuzz/$target.log" | tail -n 1 >&2 || true
        fi
    done
done
exit $status
