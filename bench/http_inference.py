"""Benchmark: HTTP JSON inference next to a WebSocket get_action, one policy, one server, one
run (the VM's speed drifts: compare only within a run). Prints p50/p99 of the round trip as
the caller sees it, in microseconds:
  http keep-alive   POST /v1/policies/<id>/actions, one observation, one connection
  http new conn     the same with a new TCP connection per request (Connection: close)
  websocket         tandem.PolicyClient(remote).get_action in an explore=False episode
usage: PYTHONPATH=build/python python3 bench/http_inference.py --server ws://HOST:PORT
       [--policy learned] [--n 3000]   (bench/http_inference.sh starts a server)
       --route /in-game-recommendations --obs-dim 2 --no-mask: the single-observation route
       ({"observation": [...]} -> {"action": ...}) instead (bench/price_service.sh)"""
import argparse
import http.client
import json
import random
import time

import numpy as np

import tandem


def pct(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2] * 1e6, xs[min(len(xs) - 1, int(len(xs) * 0.99))] * 1e6


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--policy", default="learned")
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--route", help="a configured single-observation path (http_inference_paths)")
    ap.add_argument("--obs-dim", type=int, default=84)
    ap.add_argument("--no-mask", action="store_true")
    a = ap.parse_args()
    host, port = a.server.split("//")[1].split("/")[0].rsplit(":", 1)
    rng = random.Random(1)
    if a.route:  # e.g. the price model: two players' returns
        obs = [[rng.uniform(-50, 50) for _ in range(a.obs_dim)] for _ in range(64)]
    else:
        obs = [[float(rng.random() < 0.3) for _ in range(a.obs_dim)] for _ in range(64)]
    mask = None if a.no_mask else [1, 1, 0, 1, 1, 1, 1]
    if a.route:
        bodies = [json.dumps({"observation": o}) for o in obs]
        path = a.route
    else:
        bodies = [json.dumps({"observations": [o], **({"action_masks": [mask]} if mask else {})}) for o in obs]
        path = f"/v1/policies/{a.policy}/actions"
    hdr = {"Content-Type": "application/json"}

    def http_keepalive(n):
        c = http.client.HTTPConnection(host, int(port), timeout=10)
        t = []
        for i in range(n):
            t0 = time.perf_counter()
            c.request("POST", path, bodies[i % 64], hdr)
            r = c.getresponse()
            json.loads(r.read())
            t.append(time.perf_counter() - t0)
            assert r.status == 200
        return t

    def http_newconn(n):
        t = []
        for i in range(n):
            t0 = time.perf_counter()
            c = http.client.HTTPConnection(host, int(port), timeout=10)
            c.request("POST", path, bodies[i % 64], dict(hdr, Connection="close"))
            r = c.getresponse()
            json.loads(r.read())
            c.close()
            t.append(time.perf_counter() - t0)
            assert r.status == 200
        return t

    with tandem.PolicyClient(a.server) as client:
        cfg = json.loads(client.get_config())
        agent = next((k for k, v in cfg["policy_mapping"] if v == a.policy and "*" not in k and "?" not in k),
                     "agent0")
        eid = client.start_episode(explore=False, training_enabled=False)
        arrs = [np.array(o, np.float32) for o in obs]

        def websocket(n):
            t = []
            for i in range(n):
                t0 = time.perf_counter()
                client.get_action(eid, {agent: arrs[i % 64]}, action_mask={agent: mask} if mask else None)
                t.append(time.perf_counter() - t0)
            return t

        for f in (http_keepalive, http_newconn, websocket):
            f(200)  # warm up
        rows = {"http keep-alive": [], "http new conn": [], "websocket": []}
        for _ in range(5):  # interleaved rounds, so a drift of the VM hits all three alike
            rows["http keep-alive"] += http_keepalive(a.n // 5)
            rows["http new conn"] += http_newconn(a.n // 10)
            rows["websocket"] += websocket(a.n // 5)
    print(f"{'path':<16} {'n':>6} {'p50_us':>8} {'p99_us':>8}")
    for k, t in rows.items():
        p50, p99 = pct(t)
        print(f"{k:<16} {len(t):>6} {p50:>8.1f} {p99:>8.1f}")


if __name__ == "__main__":
    main()
