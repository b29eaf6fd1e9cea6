#!/usr/bin/env bash
# run_cg.sh N: one callgrind run of tandem-server and of the echo server, a native rtt_bench -n N against both.
set -euo pipefail
N=$1
D=${PROF_DIR:-results/profile}/n$N
rm -rf "$D"; mkdir -p "$D"
B=build
VG="valgrind --tool=callgrind --dump-instr=no --collect-atstart=yes"
$VG --callgrind-out-file=$D/server.%p.out $B/policy_server/tandem-server -c configs/cartpole_ppo.json \
    --port 0 --no-train --results-dir $D/results > $D/server.log 2> $D/server.err &
SPID=$!
for i in $(seq 1 240); do grep -q listening $D/server.log && break; sleep 0.5; done
grep listening $D/server.log
SURL=$(awk '/listening/{print $3}' $D/server.log)
$VG --callgrind-out-file=$D/echo.%p.out $B/bench/rtt_bench --echo-server > $D/echo.log 2> $D/echo.err &
EPID=$!
for i in $(seq 1 240); do grep -q listening $D/echo.log && break; sleep 0.5; done
EURL=$(awk '/listening/{print $3}' $D/echo.log)
echo "server $SURL (pid $SPID) echo $EURL (pid $EPID)"
$B/bench/rtt_bench --server "$SURL" --echo "$EURL" -n "$N" > $D/client.log
cat $D/client.log
sleep 1
callgrind_control -d $EPID
callgrind_control -d $SPID
sleep 1
kill -TERM $EPID; kill -TERM $SPID
wait $EPID || true
wait $SPID || true
ls -la $D
