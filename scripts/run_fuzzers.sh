#!/usr/bin/env bash
# Runs every libFuzzer target in BIN_DIR for SECONDS each, starting from the seed corpus in
# fuzz/corpus/<name> and growing a working corpus in fuzz/corpus-run/<name> (not committed).
# A finding stops the run with its input saved as fuzz/artifacts/<name>-crash-*.
#   scripts/run_fuzzers.sh BIN_DIR SECONDS
set -euo pipefail
bin_dir=${1:?usage: run_fuzzers.sh BIN_DIR SECONDS}
seconds=${2:?usage: run_fuzzers.sh BIN_DIR SECONDS}
cd "$(dirname "$0")/.."
mkdir -p fuzz/artifacts
for target in "$bin_dir"/fuzz_*; do
    name=$(basename "$target")
    name=${name#fuzz_}
    log="fuzz/artifacts/$name.log"
    mkdir -p "fuzz/corpus-run/$name"
    echo "fuzzing $name for $seconds s (log: $log)"
    if ! "$target" -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=4096 \
            -artifact_prefix="fuzz/artifacts/$name-" -print_final_stats=1 \
            "fuzz/corpus-run/$name" "fuzz/corpus/$name" > "$log" 2>&1; then
        tail -n 40 "$log"
        echo "fuzzer $name found a problem: the input is in fuzz/artifacts/" >&2
        exit 1
    fi
    grep -E "^stat::(number_of_executed_units|average_exec_per_sec|new_units_added)" "$log" | sed 's/^/  /'
    echo "  corpus: $(ls "fuzz/corpus-run/$name" | wc -l) inputs; no finding"
done
