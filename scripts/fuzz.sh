#!/bin/sh
# Coverage-guided fuzzing of the compiler: the targets in fuzz/ (libFuzzer, through
# libfuzzer-sys, in cargo-fuzz's layout), built and run on the stable toolchain. Why and how:
# "Fuzzing" in ARCHITECTURE.md; figures in docs/fuzzing.md.
#
#   sh scripts/fuzz.sh build                       build the targets
#   sh scripts/fuzz.sh seeds                       write the seed corpus (fuzz/target/seeds)
#   sh scripts/fuzz.sh smoke [SECONDS]             every target for SECONDS (default 20): CI
#   sh scripts/fuzz.sh run TARGET [SECONDS] [ARGS] one target for SECONDS (default 3600), with
#                                                  any further libFuzzer options
#
# TARGET is parse, sema or codegen. What a run finds is kept in fuzz/corpus/TARGET (inputs
# that reached new code) and fuzz/artifacts/TARGET (crashes, timeouts, out-of-memory), and
# the run fails when it finds anything. A finding reproduces with
# `fuzz/target/<triple>/release/TARGET FILE`.
#
# Seeds: rtrace's own scripts (examples, tools, bad-input cases, e2e and test programs, the
# one-liners), and, when BPFTRACE_GIT_DIR names a git directory of bpftrace's repository,
# its tools/*.bt and the programs of its runtime tests, read from there at seed time (they are not copied into this repository).
set -eu

# As cargo's RUSTC_WRAPPER (set by `build`): adds the instrumentation to rtrace and the
# fuzz crate only. Coverage of the dependencies would only slow every run, and with it the
# linker keeps every function of theirs (the PC table refers to each), such as inkwell's
# target initialisers, which llvm-sys leaves undefined.
if [ -n "${RTRACE_FUZZ_RUSTC:-}" ]; then
    case " $* " in
    *" --crate-name rtrace "* | *" --crate-name rtrace_fuzz "* | *" --crate-name parse "* | *" --crate-name sema "* | *" --crate-name codegen "*)
        # shellcheck disable=SC2086 # the flags are words
        exec "$@" $RTRACE_FUZZ_RUSTC ;;
    esac
    exec "$@"
fi

cd "$(dirname "$0")/.."

TARGETS="parse sema codegen"
triple=$(rustc -vV | sed -n 's/^host: //p')
bin=fuzz/target/$triple/release
seeds=fuzz/target/seeds

# cargo-fuzz's instrumentation for libFuzzer without a sanitizer, all of it stable rustc
# flags: per-edge 8-bit counters and the PC table libFuzzer reads, comparisons traced so it
# can solve them, stack depth as a feature; and `--cfg fuzzing`. Only rtrace and the targets
# get them (the wrapper above).
build() {
    RTRACE_FUZZ_RUSTC="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares -Cllvm-args=-sanitizer-coverage-stack-depth \
-Cllvm-args=-simplifycfg-branch-fold-threshold=0 --cfg fuzzing" RUSTC_WRAPPER="$PWD/scripts/fuzz.sh" \
        cargo build --manifest-path fuzz/Cargo.toml --release --target "$triple" --bins
}

# One seed file per script (named by a hash of its text, so seeds never pile up twice).
seed() {
    [ -s "$1" ] || return 0
    cp "$1" "$seeds/$(cksum < "$1" | cut -d' ' -f1)"
}

seeds() {
    rm -rf "$seeds"
    mkdir -p "$seeds"
    tmp=$(mktemp)
    for f in examples/*.bt examples/tools/*.bt tests/bad-input/*.bt; do
        seed "$f"
    done
    # PROG lines of the end-to-end cases; one-liners (`rtrace -e '...'`) of the docs; the
    # sources of the parser and sema snapshot tests (between the header and the result).
    for f in tests/e2e/*.test; do
        sed -n 's/^PROG //p' "$f" | while IFS= read -r line; do
            printf '%s\n' "$line" > "$tmp"
            seed "$tmp"
        done
    done
    grep -ho "rtrace[^']*-e '[^']*'" docs/*.md README.md | sed "s/^[^']*'//; s/'\$//" | while IFS= read -r line; do
        printf '%s\n' "$line" > "$tmp"
        seed "$tmp"
    done
    for f in src/parser/snapshots/*.snap src/sema/snapshots/*.snap; do
        awk 'n == 2 && /^---$/ { exit } n == 2 { print } /^---$/ { n++ }' "$f" > "$tmp"
        seed "$tmp"
    done
    if [ -n "${BPFTRACE_GIT_DIR:-}" ]; then
        git --git-dir="$BPFTRACE_GIT_DIR" ls-tree --name-only HEAD tools/ | grep '\.bt$' | while read -r f; do
            git --git-dir="$BPFTRACE_GIT_DIR" show "HEAD:$f" > "$tmp"
            seed "$tmp"
        done
        # And the programs of its runtime tests (`PROG ...` lines).
        git --git-dir="$BPFTRACE_GIT_DIR" ls-tree -r --name-only HEAD tests/runtime/ | while read -r f; do
            git --git-dir="$BPFTRACE_GIT_DIR" show "HEAD:$f"
        done | sed -n 's/^PROG //p' | while IFS= read -r line; do
            printf '%s\n' "$line" > "$tmp"
            seed "$tmp"
        done
    fi
    rm -f "$tmp"
    echo "seeds: $(ls "$seeds" | wc -l) scripts in $seeds"
}

# run TARGET SECONDS [libFuzzer options]: fuzz, then say what was run and found.
run() {
    target=$1
    seconds=$2
    shift 2
    case " $TARGETS " in *" $target "*) ;; *) echo "fuzz: no target \`$target\` (one of: $TARGETS)" >&2; exit 1 ;; esac
    mkdir -p "fuzz/corpus/$target" "fuzz/artifacts/$target"
    log="fuzz/target/$target.log"
    # -timeout: an input compiling for over 10 s is a hang (the slowest example takes
    # milliseconds); -rss_limit_mb: rtrace's own memory, LLVM included, stays far below.
    status=0
    "$bin/$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -max_len=8192 \
        -dict=fuzz/rtrace.dict -artifact_prefix="fuzz/artifacts/$target/" -print_final_stats=1 \
        "$@" "fuzz/corpus/$target" "$seeds" > "$log" 2>&1 || status=$?
    # Inputs run: libFuzzer's final count; with -fork=N (where that counts the parent's
    # own, none) the last status line's (`#N`), the jobs' total.
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    [ "${runs:-0}" -gt 0 ] || runs=$(sed -n 's/^#\([0-9][0-9]*\).*/\1/p' "$log" | tail -n 1)
    echo "fuzz $target: ${runs:-0} inputs run in ${seconds} s, corpus $(ls "fuzz/corpus/$target" | wc -l) inputs"
    if [ "$status" -eq 72 ]; then
        echo "fuzz $target: interrupted" >&2
    elif [ "$status" -ne 0 ]; then
        grep -aE '^(==[0-9]+== ERROR|SUMMARY|thread .* panicked|Test unit written to)|panicked at' "$log" >&2 || tail -n 30 "$log" >&2
        echo "fuzz $target: FOUND A CRASH (status $status); log: $log" >&2
        return 1
    fi
}

case "${1:-}" in
build) build ;;
seeds) seeds ;;
smoke)
    seconds=${2:-20}
    build
    seeds
    failed=0
    for t in $TARGETS; do
        run "$t" "$seconds" || failed=1
    done
    exit $failed
    ;;
run)
    [ $# -ge 2 ] || { echo "usage: $0 run TARGET [SECONDS] [libFuzzer options]" >&2; exit 1; }
    target=$2
    seconds=${3:-3600}
    shift $(( $# < 3 ? $# : 3 ))
    build
    [ -d "$seeds" ] || seeds
    run "$target" "$seconds" "$@"
    ;;
*)
    sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
    exit 1
    ;;
esac
