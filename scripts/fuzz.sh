#!/usr/bin/env bash
# Fuzzes the request path for SECONDS (default 60): request frames -> decode_request ->
# RequestHandler with a real ServerContext (fuzz/request_fuzz.cpp, docs/SECURITY.md#fuzzing).
# Configures and builds build-fuzz (clang, ASan + UBSan + libFuzzer) if needed, generates the
# seed corpus into build-fuzz/corpus, runs libFuzzer. Fails on any crash or sanitizer report.
#   scripts/fuzz.sh [SECONDS]        FUZZ_JOBS=2 (build parallelism)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
dir=build-fuzz

if [ ! -f "$dir/CMakeCache.txt" ]; then
  cmake -S . -B "$dir" -DCMAKE_CXX_COMPILER=clang++ -DTANDEM_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$dir" --target request_fuzz request_fuzz_seeds -j"${FUZZ_JOBS:-2}"

# The seed corpus is regenerated every run; what the fuzzer adds stays in corpus/ between runs
# (kept in the build dir, never committed). Crash inputs go to build-fuzz/findings/.
mkdir -p "$dir/corpus" "$dir/findings"
"$dir/fuzz/request_fuzz_seeds" "$dir/corpus"

# Sanitizer options, and why:
# - libFuzzer's per-input leak check is off (-detect_leaks=0): it re-runs, under LSan, every
#   input after which more was allocated than freed, and request_fuzz keeps state across inputs
#   on purpose (ledger, episodes, fragments until drained), so that is nearly every input:
#   ~50 instead of ~5000 execs/s. LeakSanitizer still runs at exit (ASan's detect_leaks stays
#   on); it has reported nothing for LibTorch so far, so nothing is suppressed.
# - UBSan stops at the first report (-fno-sanitize-recover=undefined, halt_on_error=1).
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:symbolize=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1:symbolize=1}"

log="$dir/fuzz.log"
set +e
"$dir/fuzz/request_fuzz" "$dir/corpus" \
  -max_total_time="$seconds" -rss_limit_mb=4096 -max_len=65536 -timeout=10 -detect_leaks=0 \
  -artifact_prefix="$dir/findings/" -print_final_stats=1 -dict=fuzz/request.dict 2>&1 | tee "$log" | grep -E "^#[0-9]+[[:space:]]+(INITED|DONE|pulse)|ERROR|SUMMARY|request_fuzz:|Test unit written|stat::"
status=${PIPESTATUS[0]}
set -e

execs=$(grep -oE "stat::number_of_executed_units: *[0-9]+" "$log" | grep -oE "[0-9]+$" || echo "?")
rate=$(grep -oE "stat::average_exec_per_sec: *[0-9]+" "$log" | grep -oE "[0-9]+$" || echo "?")
last=$(grep -E "^#[0-9]+[[:space:]]" "$log" | tail -1 || true)
cov=$(echo "$last" | grep -oE "cov: [0-9]+" || true)
ft=$(echo "$last" | grep -oE "ft: [0-9]+" || true)
corp=$(echo "$last" | grep -oE "corp: [0-9]+/[0-9]+[a-zA-Z]*" || true)
files=$(find "$dir/corpus" -type f | wc -l)
size=$(du -sh "$dir/corpus" | cut -f1)
echo "fuzz: ${seconds}s, ${execs} execs (${rate}/s), ${cov:-cov: ?}, ${ft:-ft: ?}, ${corp:-corp: ?}" \
     "(in memory); corpus dir: ${files} files, ${size}; log: $log"
if [ "$status" -ne 0 ]; then
  echo "fuzz: FAILED (exit $status): see $log and $dir/findings/" >&2
  exit 1
fi
