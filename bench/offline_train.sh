#!/usr/bin/env bash
# Benchmark: offline training throughput (rows/s) of tandem-server with `input`.
# usage: bench/offline_train.sh [marwil] [ROWS] [ITERS] [BATCH]   (defaults: marwil 100000 30 2000)
#   e.g. bash bench/offline_train.sh marwil 100000 30 2000
# Generates ROWS rows of CartPole-sized data (obs Box(4), Discrete(2) actions, 100-step
# episodes, action_logp; crr: Box(1) actions) as JSON lines, starts a server with `input` and the default model
# (fcnet_hiddens [256, 256]), trains ITERS iterations of BATCH rows (BETA=1.0 by default; 0 =
# behaviour cloning) and prints the read time and the median rows/s of the result rows
# (samples_per_s: rows per wall second, off-policy estimate included; learn_samples_per_s: the
# SGD step alone).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/policy_server/tandem-server ] || { echo "build first: cmake --build build" >&2; exit 1; }
algo=${1:-marwil}
rows=${2:-100000}
iters=${3:-30}
batch=${4:-2000}
py=${TANDEM_PYTHON:-/usr/bin/python3}
out=results/bench_offline_${algo}
rm -rf "$out"
mkdir -p "$out"
box=0; [ "$algo" = crr ] && box=1   # CRR: Box(1) actions in [-1, 1]
"$py" - "$out/data.jsonl" "$rows" "$box" <<'PY'
import json, math, random, sys
path, rows, box = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
rng = random.Random(1)
with open(path, "w") as f:
    done = 0
    while done < rows:
        n = min(100, rows - done)
        obs = [[rng.uniform(-1, 1) for _ in range(4)] for _ in range(n + 1)]
        if box:
            acts = [[max(-1.0, min(1.0, 0.5 * o[2] + rng.gauss(0, 0.2)))] for o in obs[:n]]
        else:
            acts = [int(o[2] > 0) if rng.random() < 0.9 else 1 - int(o[2] > 0) for o in obs[:n]]
        line = {"type": "SampleBatch", "policy_id": "default_policy", "obs": obs[:n], "new_obs": obs[1:],
                "actions": acts, "rewards": [1.0] * n, "dones": [False] * (n - 1) + [True],
                "t": list(range(n)), "eps_id": [done] * n, "agent_index": [0] * n,
                "action_logp": [math.log(0.9)] * n}
        f.write(json.dumps(line) + "\n")
        done += n
PY
action_space='{"type": "discrete", "n": 2}'
[ "$box" = 1 ] && action_space='{"type": "box", "shape": [1], "low": -1, "high": 1}'
cat > "$out/config.json" <<JSON
{"algorithm": "$algo", "seed": 1, "results_dir": "$out/results", "input": "$out/data.jsonl",
 "config": {"train_batch_size": $batch, "sgd_minibatch_size": 128, "lr": 1e-4, "beta": ${BETA:-1.0}},
 "policies": {"default_policy": {"observation_space": {"type": "box", "shape": [4]},
                                 "action_space": $action_space}},
 "stop": {"training_iteration": $iters}}
JSON
start=$(date +%s.%N)
./build/policy_server/tandem-server -c "$out/config.json" --port 0 > "$out/server.log" 2>&1
end=$(date +%s.%N)
"$py" - "$out/results/result.json" "$start" "$end" "$rows" "$algo" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
wall = float(sys.argv[3]) - float(sys.argv[2])
sps = statistics.median(r["samples_per_s"] for r in rows[1:] or rows)
learn = statistics.median(r["learn_samples_per_s"] for r in rows[1:] or rows)
print(f"{sys.argv[5]}: {len(rows)} iterations, {rows[-1]['timesteps_total']} rows trained of {sys.argv[4]} read; "
      f"process wall {wall:.2f}s (read + train + checkpoint)")
print(f"  median samples_per_s {sps:.0f} rows/s, learn_samples_per_s {learn:.0f} rows/s (SGD step only)")
wis = rows[-1].get("off_policy_estimation", {}).get("wis")
if wis: print(f"  last wis: v_behavior {wis['v_behavior']:.2f} v_target {wis['v_target']:.2f} v_gain {wis['v_gain']:.3f}")
PY
grep -m1 "offline input" "$out/server.log" || true
