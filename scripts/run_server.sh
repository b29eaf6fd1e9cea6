# Sourced by the demo and bench scripts: start_server CONFIG RESULTS_DIR [flags...] starts a
# tandem-server on a free port, waits for its "listening on" line and sets $SERVER_URL and
# $SERVER_PID. Servers started this way are stopped (SIGTERM) when the script exits.
SERVER_PIDS=()
cleanup_servers() {
  for p in "${SERVER_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${SERVER_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup_servers EXIT
trap 'exit 130' INT TERM
start_server() {
  local config=$1 results=$2; shift 2
  local log="$results.server.log"
  mkdir -p "$(dirname "$log")"
  : >"$log"  # exists before the wait loop greps it
  ./build/policy_server/tandem-server -c "$config" --port 0 --results-dir "$results" "$@" >"$log" 2>&1 &
  SERVER_PID=$!
  SERVER_PIDS+=("$SERVER_PID")
  for _ in $(seq 1 200); do
    if grep -q '^listening on' "$log"; then break; fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then cat "$log" >&2; return 1; fi
    sleep 0.05
  done
  SERVER_URL=$(grep -m1 '^listening on' "$log" | awk '{print $3}')
}
