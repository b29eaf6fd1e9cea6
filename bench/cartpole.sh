#!/usr/bin/env bash
# Benchmark: PPO or A2C on CartPole-v1 through tandem-server, simulator in its own process.
# usage: bench/cartpole.sh [ppo|a2c] [SEED] [STEPS] [remote|local]   (defaults: ppo 1 100000 remote)
# ENVS=N CartPoles per simulator thread, stepped with one vectorised frame (default 8, as
# SB3's n_envs); CONCURRENT=N simulator threads (default 1); UPDATE_INTERVAL the local poll;
# SAMPLE_AHEAD=N the server's sample_ahead_steps (default: the config's, one train batch;
# 0: serving pauses while the learner trains); CONFIG=FILE another server config; SIM=python
# runs the Python simulator (examples/python/cartpole.py, the Python client) instead of C++.
# Prints the env steps and wall time at which the mean return of the last 100 episodes
# first reached 475 (from the server's result.json), and the totals at the step budget.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/policy_server/tandem-server ] || bash scripts/build.sh
source scripts/run_server.sh
algo=${1:-ppo}
seed=${2:-1}
steps=${3:-100000}
inference=${4:-remote}
concurrent=${CONCURRENT:-1}
envs=${ENVS:-8}
out=results/bench_cartpole_${algo}_seed$seed
[ "$inference" = remote ] || out=results/bench_cartpole_${algo}_${inference}_seed$seed
[ -z "${SAMPLE_AHEAD:-}" ] || out=${out}_ahead$SAMPLE_AHEAD
[ "${SIM:-cpp}" = cpp ] || out=${out}_$SIM
rm -rf "$out"
config=${CONFIG:-configs/cartpole_$algo.json}
if [ -n "${SAMPLE_AHEAD:-}" ]; then
  mkdir -p "$out"
  python3 -c "import json,sys; j=json.load(open(sys.argv[1])); j['sample_ahead_steps']=int(sys.argv[2]); json.dump(j,open(sys.argv[3],'w'))" \
    "$config" "$SAMPLE_AHEAD" "$out.config.json"
  config=$out.config.json
fi
start_server "$config" "$out" --seed "$seed" --stop-timesteps 0
start=$(date +%s.%N)
if [ "${SIM:-cpp}" = python ]; then
  PYTHONPATH=build/python "${TANDEM_PYTHON:-/usr/bin/python3}" examples/python/cartpole.py --address "$SERVER_URL" \
    --envs "$envs" --steps "$steps" --seed "$seed" --inference "$inference" --update-interval "${UPDATE_INTERVAL:-10}" \
    --target 1e9 | tail -n 1
else
  ./build/examples/cartpole_client --server "$SERVER_URL" --concurrent "$concurrent" --envs-per-client "$envs" --steps "$steps" --seed "$seed" \
    --inference "$inference" --update-interval "${UPDATE_INTERVAL:-10}" | tail -n 2
fi
end=$(date +%s.%N)
kill -TERM "$SERVER_PID"; wait "$SERVER_PID" || true
python3 - "$out/result.json" "$start" "$end" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
hit = next((r for r in rows if (r.get("episode_reward_mean") or 0) >= 475), None)
print(f"seed run: {len(rows)} iterations, client wall {float(sys.argv[3]) - float(sys.argv[2]):.1f}s")
if hit:
    print(f"mean return (last 100 episodes) >= 475 at {hit['timesteps_total']} env steps, "
          f"{hit['time_total_s']:.1f}s after the first iteration (iteration {hit['training_iteration']})")
else:
    print("did not reach 475")
last = rows[-1]
print(f"final: {last['timesteps_total']} steps, episode_reward_mean {last['episode_reward_mean']}")
PY
