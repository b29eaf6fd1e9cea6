#!/usr/bin/env bash
# ctest entry for scripts/tandem-plot: two fixture runs (columns in different orders, one
# empty cell) make a PNG; a missing directory, a missing column, and a column with no
# values each exit 1 with a message naming the problem. Needs gnuplot (scripts/setup.sh).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
plot=$root/scripts/tandem-plot
fx=$root/tests/fixtures
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$plot" "$fx/plot_run_a" "$fx/plot_run_b" -o "$out/p.png" >/dev/null || fail "plot of two runs exited $?"
[ "$(head -c 8 "$out/p.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || fail "output is not a PNG"
[ "$(stat -c %s "$out/p.png")" -gt 2000 ] || fail "PNG is suspiciously small"

expect_error() {  # expect_error MESSAGE_PART ARGS...
  local want=$1; shift
  local msg rc
  msg=$("$plot" "$@" -o "$out/bad.png" 2>&1 >/dev/null); rc=$?
  [ "$rc" -eq 1 ] || fail "'$*' exited $rc, want 1"
  [[ "$msg" == *"$want"* ]] || fail "'$*' said '$msg', want it to mention '$want'"
  [ ! -e "$out/bad.png" ] || fail "'$*' wrote a PNG anyway"
}
expect_error "has no progress.csv" "$fx/plot_run_a" "$fx/no_such_run"
expect_error "has no column 'nope'" "$fx/plot_run_a" --metric nope
expect_error "has no column 'wall'" "$fx/plot_run_b" --x wall
expect_error "no row with both" "$fx/plot_run_a" --metric evaluation/episode_reward_mean
"$plot" >/dev/null 2>&1; [ $? -eq 2 ] || fail "no arguments should exit 2"
echo "tandem-plot: ok"
