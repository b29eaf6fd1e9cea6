#!/usr/bin/env bash
# The CartPole demo: installs, builds, starts a PPO tandem-server and the CartPole simulator in
# its own process, and shows the policy learning. Results land in results/demo_cartpole/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
source scripts/run_server.sh
rm -rf results/demo_cartpole
start_server configs/cartpole_ppo.json results/demo_cartpole --stop-timesteps 0
echo "PPO server on $SERVER_URL; CartPole simulator: 8 CartPoles stepped together (one frame per step), 100k steps"
./build/examples/cartpole_client --server "$SERVER_URL" --envs-per-client 8 --steps 100000
echo
echo "server log (one line per training iteration):"
grep 'iter' results/demo_cartpole.server.log | tail -n 8
echo "results: results/demo_cartpole/result.json, results/demo_cartpole/progress.csv"
