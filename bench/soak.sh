#!/usr/bin/env bash
# Soak test (issue 11): one training tandem-server under CLIENTS concurrent clients for
# SECONDS, ~25% of them hostile; prints a table of checks and exits non-zero if one fails.
#   bash bench/soak.sh [SECONDS=180] [CLIENTS=200] [extra soak flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_ARG=${1:-180}
CLIENTS_ARG=${2:-200}
shift $(( $# > 2 ? 2 : $# ))
if [ ! -x build/bench/soak ] || [ ! -x build/policy_server/tandem-server ]; then
  cmake --build build -j2 --target tandem-server soak
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
exec ./build/bench/soak --seconds "$SECONDS_ARG" --clients "$CLIENTS_ARG" \
  --server-bin build/policy_server/tandem-server "$@"
