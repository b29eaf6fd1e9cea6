#!/usr/bin/env python3
"""Reads a bench/connect_four_league.sh run (OUT/train/result.json, OUT/eval/result.json) and
prints the league's growth and the greedy evaluation table; writes OUT/curve.png (greedy win
rate of `learned` per scripted opponent against env steps, from the evaluation games played
during training, summed over windows of env steps) and OUT/report.json.
usage: bench/league_report.py OUT [--train-seconds S] [--windows N]"""
import argparse
import json
import pathlib
import subprocess
import sys
import tempfile

SCRIPTED = ["random", "always_same", "linear", "beat_last"]


def rows(path):
    return [json.loads(l) for l in pathlib.Path(path).read_text().splitlines() if l.strip()]


def eval_opponents(row):
    return row.get("evaluation", {}).get("league", {}).get("opponents", {})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--train-seconds", type=float, default=None)
    ap.add_argument("--train-steps", type=int, default=None)
    ap.add_argument("--windows", type=int, default=15)
    a = ap.parse_args()
    out = pathlib.Path(a.out)
    train = rows(out / "train" / "result.json")
    last = train[-1]
    adds = [r for r in train if r["league"]["added"]]
    report = {
        "env_steps": last["timesteps_total"], "training_iterations": last["training_iteration"],
        "server_time_s": last["time_total_s"], "simulator_wall_s": a.train_seconds,
        "training_client_env_steps": a.train_steps,
        "snapshots_made": len(adds), "league_size": last["league"]["size"],
        "members": last["league"]["members"],
        "first_snapshot_at_steps": adds[0]["timesteps_total"] if adds else None,
    }
    print(f"training: {report['env_steps']} env steps served ({a.train_steps} by the training simulator, the rest "
          f"evaluation games alongside), {report['training_iterations']} iterations, "
          f"{report['server_time_s']:.1f} s server time; {len(adds)} snapshots made, league size "
          f"{report['league_size']} at the end: {', '.join(report['members'])}")

    # Final greedy evaluation (the restored --no-train server).
    final = {}
    for r in rows(out / "eval" / "result.json"):
        for name, o in eval_opponents(r).items():
            t = final.setdefault(name, {"games": 0, "wins": 0, "draws": 0, "losses": 0})
            for k in t:
                t[k] += o[k]
    report["evaluation"] = final
    print(f"{'opponent':12s} {'games':>6s} {'won':>6s} {'drawn':>6s} {'lost':>6s}  win rate")
    for name in SCRIPTED:
        t = final.get(name, {"games": 0, "wins": 0, "draws": 0, "losses": 0})
        rate = t["wins"] / t["games"] if t["games"] else float("nan")
        print(f"{name:12s} {t['games']:6d} {t['wins']:6d} {t['draws']:6d} {t['losses']:6d}  {rate:.3f}")

    # The curve: evaluation games played alongside training, in windows of env steps.
    total = last["timesteps_total"]
    width = max(1, total // a.windows)
    bins = {}
    for r in train:
        b = min(r["timesteps_total"] // width, a.windows - 1)
        for name, o in eval_opponents(r).items():
            g = bins.setdefault(b, {}).setdefault(name, [0, 0])
            g[0] += o["games"]
            g[1] += o["wins"]
    curve = []
    for b in sorted(bins):
        point = {"env_steps": (b + 1) * width}
        for name in SCRIPTED:
            g, w = bins[b].get(name, [0, 0])
            point[name] = w / g if g else None
            point[name + "_games"] = g
        curve.append(point)
    report["curve"] = curve
    if not curve:  # no evaluation games alongside training (EVAL_DURING=0)
        (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
        return 0
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    with tempfile.NamedTemporaryFile("w", suffix=".dat", delete=False) as f:
        for p in curve:
            f.write(" ".join([str(p["env_steps"])] + ["NaN" if p[n] is None else f"{p[n]:.4f}" for n in SCRIPTED]) + "\n")
        dat = f.name
    plot = "; ".join([
        "set terminal pngcairo noenhanced size 900,520", f"set output '{out / 'curve.png'}'",
        "set title 'Connect Four self-play league: greedy win rate of learned (seats alternating)'",
        "set xlabel 'env steps'", "set ylabel 'win rate'", "set yrange [0:1.02]", "set key bottom right",
        "set grid",
        "plot " + ", ".join(f"'{dat}' using 1:{i + 2} with linespoints title '{n}'" for i, n in enumerate(SCRIPTED)),
    ])
    subprocess.run(["gnuplot", "-e", plot], check=True)
    print(f"curve: {out / 'curve.png'} ({len(curve)} windows of {width} env steps)")


if __name__ == "__main__":
    sys.exit(main())
