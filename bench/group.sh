#!/usr/bin/env bash
# Benchmark: one PPO policy trained by a replica group (docs/ARCHITECTURE.md, "Past one
# machine") on CartPole-v1: REPLICAS tandem-server processes on loopback, each with its own
# simulator process of THREADS threads x ENVS CartPoles (remote inference).
# usage: bench/group.sh [REPLICAS] [THREADS] [STEPS] [SEED]   (defaults: 2 2 100000 1)
# STEPS is the total over the group (each simulator gets STEPS / REPLICAS). REPLICAS=1 runs one
# server without a group. CONFIG=FILE another config (default configs/cartpole_ppo_group.json:
# train_batch_size 128 per replica). BATCH=N overrides train_batch_size per replica.
# SERVE_ONLY=1: the same servers and simulators with --no-train and no group (serving alone).
# Prints: when rank 0's smoothed mean return first reached 475 (env steps, seconds), the
# aggregate env steps/s the simulators saw, and the all-reduce time per SGD step.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/policy_server/tandem-server ] || bash scripts/build.sh
replicas=${1:-2}
threads=${2:-2}
steps=${3:-100000}
seed=${4:-1}
envs=${ENVS:-8}
config=${CONFIG:-configs/cartpole_ppo_group.json}
out=results/bench_group_${replicas}x${threads}_seed$seed
rm -rf "$out" && mkdir -p "$out"
if [ -n "${BATCH:-}" ]; then
  python3 -c "import json,sys; j=json.load(open(sys.argv[1])); j['config']['train_batch_size']=int(sys.argv[2]); json.dump(j,open(sys.argv[3],'w'))" \
    "$config" "$BATCH" "$out/config.json"
  config=$out/config.json
fi
port=$(python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])")
pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
for r in $(seq 0 $((replicas - 1))); do
  if [ "${SERVE_ONLY:-0}" = 1 ]; then
    flags=(--no-train --group-size 1)
  else
    flags=(--group-size "$replicas" --group-rank "$r" --group-master "127.0.0.1:$port")
  fi
  ./build/policy_server/tandem-server -c "$config" --port 0 --results-dir "$out/rank$r" --seed "$seed" \
    --stop-timesteps 0 "${flags[@]}" >"$out/rank$r.log" 2>&1 &
  pids+=($!)
done
urls=()
for r in $(seq 0 $((replicas - 1))); do
  for _ in $(seq 1 600); do
    grep -q '^listening on' "$out/rank$r.log" && break
    kill -0 "${pids[$r]}" 2>/dev/null || { cat "$out/rank$r.log" >&2; exit 1; }
    sleep 0.05
  done
  urls+=("$(grep -m1 '^listening on' "$out/rank$r.log" | awk '{print $3}')")
done
start=$(date +%s.%N)
sims=()
for r in $(seq 0 $((replicas - 1))); do
  ./build/examples/cartpole_client --server "${urls[$r]}" --concurrent "$threads" --envs-per-client "$envs" \
    --steps $((steps / replicas)) --seed $((seed * 100 + r)) >"$out/sim$r.log" 2>&1 &
  sims+=($!)
done
for p in "${sims[@]}"; do wait "$p"; done
end=$(date +%s.%N)
cleanup
pids=()
if [ "${SERVE_ONLY:-0}" = 1 ]; then
  total=0
  for r in $(seq 0 $((replicas - 1))); do
    total=$((total + $(grep -o 'steps [0-9]*' "$out/sim$r.log" | tail -n 1 | awk '{print $2}')))
  done
  python3 -c "import sys; t, w = int(sys.argv[1]), float(sys.argv[3]) - float(sys.argv[2]); print(f'serving only, {sys.argv[4]} server(s) x {sys.argv[5]} simulator thread(s): {t} env steps in {w:.1f} s: {t / w:.0f} env steps/s')" \
    "$total" "$start" "$end" "$replicas" "$threads"
  exit 0
fi
python3 - "$out/rank0/result.json" "$start" "$end" "$replicas" "$threads" "$envs" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
wall = float(sys.argv[3]) - float(sys.argv[2])
replicas, threads, envs = sys.argv[4], sys.argv[5], sys.argv[6]
last = rows[-1]
print(f"{replicas} replica(s) x {threads} simulator thread(s) x {envs} envs: {len(rows)} iterations, "
      f"{last['timesteps_total']} env steps in {wall:.1f} s of simulator wall time: "
      f"{last['timesteps_total'] / wall:.0f} env steps/s over the group")
hit = next((r for r in rows if (r.get("episode_reward_mean") or 0) >= 475), None)
if hit:
    print(f"mean return (the last 100 episodes of the group) >= 475 at {hit['timesteps_total']} env steps, "
          f"{hit['time_total_s']:.1f} s (iteration {hit['training_iteration']})")
else:
    print(f"did not reach 475: final episode_reward_mean {last['episode_reward_mean']}")
pol = [r["info"]["learner"]["default_policy"] for r in rows if "default_policy" in r["info"]["learner"]]
ar = [p["group_allreduce_ms_per_sgd_step"] for p in pol if "group_allreduce_ms_per_sgd_step" in p]
if ar:
    ar.sort()
    learn = sorted(r["learn_time_s"] for r in rows)
    steps = sorted(p["num_sgd_steps"] for p in pol)
    print(f"all-reduce time per SGD step (gradient + advantage statistics, waiting included): "
          f"median {ar[len(ar) // 2]:.3f} ms, p90 {ar[int(len(ar) * 0.9)]:.3f} ms; "
          f"learn time per iteration median {learn[len(learn) // 2] * 1000:.1f} ms over {steps[len(steps) // 2]:.0f} SGD steps")
PY
