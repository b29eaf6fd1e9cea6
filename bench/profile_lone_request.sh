#!/usr/bin/env bash
# Where a lone get_action's work goes: tandem-server (CartPole policy, --no-train) and a bare
# Beast echo, each under callgrind, driven by a native rtt_bench. Three runs (N = 2000, 6000,
# 10000 measured round trips, plus 1000 warm-up each); per round trip = the difference of
# two runs' totals over the difference of their calls, so start-up cancels out. Prints one
# row per group (user-space instructions per round trip; the kernel is not counted):
#   bench/profile_lone_request.sh        (about 10 minutes; results/profile/)
# Grouping: bench/profile/groups.py (each function's self cost by name; libc/libm/std code
# is charged to its callers). docs/BENCHMARKS.md has a run and its reading.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/policy_server/tandem-server ] || bash scripts/build.sh
command -v valgrind > /dev/null || { echo "needs valgrind (apt-get install valgrind)" >&2; exit 1; }
export PROF_DIR=${PROF_DIR:-results/profile}
for n in 2000 6000 10000; do bash bench/profile/run_cg.sh "$n" > /dev/null; done
echo "| group | instr / RT (2000->10000) | share | 2000->6000 / 6000->10000 |"
echo "|---|---:|---:|---:|"
python3 bench/profile/table.py
