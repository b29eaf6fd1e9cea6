#!/usr/bin/env bash
# Single-client get_action round trip (p50, p99) next to a plain Beast WebSocket echo,
# both servers in their own processes, measured in the same run.
#   bench/rtt.sh [N] [--tls]   --tls: also get_action over wss:// (a second server with a
#                              throw-away self-signed certificate made by the openssl CLI)
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/bench/rtt_bench ] || bash scripts/build.sh
source scripts/run_server.sh
N=20000
TLS=0
for a in "$@"; do
  case "$a" in
    --tls) TLS=1 ;;
    *) N=$a ;;
  esac
done
start_server configs/cartpole_ppo.json results/bench_rtt --no-train
PLAIN_URL=$SERVER_URL
TLS_ARGS=()
if [ "$TLS" = 1 ]; then
  mkdir -p results/bench_rtt_tls
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=localhost \
    -addext subjectAltName=IP:127.0.0.1,DNS:localhost -keyout results/bench_rtt_tls/server.key \
    -out results/bench_rtt_tls/server.crt 2>/dev/null
  start_server configs/cartpole_ppo.json results/bench_rtt_tls/run --no-train \
    --tls-cert-file results/bench_rtt_tls/server.crt --tls-key-file results/bench_rtt_tls/server.key
  TLS_ARGS=(--tls-server "$SERVER_URL" --tls-ca results/bench_rtt_tls/server.crt)
fi
./build/bench/rtt_bench --echo-server > results/bench_rtt.echo.log 2>&1 &
SERVER_PIDS+=($!)
for _ in $(seq 1 100); do grep -q listening results/bench_rtt.echo.log && break; sleep 0.05; done
ECHO_URL=$(awk '/listening/{print $3}' results/bench_rtt.echo.log)
./build/bench/rtt_bench --server "$PLAIN_URL" --echo "$ECHO_URL" -n "$N" "${TLS_ARGS[@]}"
