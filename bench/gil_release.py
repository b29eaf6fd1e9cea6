#!/usr/bin/env python3
"""Which small-array operations release the GIL, and what that costs the thread that makes
them while another thread waits for the GIL (tandem/arrays.py says why it matters).

A second thread does socket round trips with a forked echo process (each recv returns it to
waiting for the GIL, as the local client's upload thread after each of its system calls).
For each operation on a 4-float array: the per-call time alone, the time with that thread
waiting, and the main thread's voluntary context switches per 1,000 calls.

    PYTHONPATH=build/python python3 bench/gil_release.py [calls]
"""
import os
import socket
import sys
import threading
import time

import numpy as np

from tandem import arrays

N = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
x = np.array([1, 2, 3, 4], np.float32)
x64 = x.astype(np.float64)
lst = x.tolist()
buf = np.empty(4, np.float32)
W = np.ones((4, 128), np.float32)
OPS = {
    "np.array(x, float32)": lambda: np.array(x, np.float32),
    "x.copy()": lambda: x.copy(),
    "x64.astype(float32)": lambda: x64.astype(np.float32),
    "np.concatenate([x, x])": lambda: np.concatenate([x, x]),
    "np.stack([x, x])": lambda: np.stack([x, x]),
    "buf[:] = x": lambda: buf.__setitem__(slice(None), x),
    "np.array(list, float32)": lambda: np.array(lst, np.float32),
    "np.matmul(x, W)": lambda: np.matmul(x, W),
    "np.tanh(buf, out=buf)": lambda: np.tanh(buf, out=buf),
    "arrays.f32_flat(x)": lambda: arrays.f32_flat(x),
    "arrays.f32_flat(x64)": lambda: arrays.f32_flat(x64),
    "arrays.f32_join([x, x])": lambda: arrays.f32_join([x, x]),
    "arrays.f32_rows([x, x])": lambda: arrays.f32_rows([x, x]),
}


def switches():
    with open(f"/proc/self/task/{threading.get_native_id()}/status") as f:
        for line in f:
            if line.startswith("voluntary_ctxt_switches"):
                return int(line.split(":")[1])
    return 0


def measure(f):
    f()
    s0, t0 = switches(), time.perf_counter()
    for _ in range(N):
        f()
    return (time.perf_counter() - t0) / N * 1e6, (switches() - s0) * 1000 / N


def main():
    alone = {name: measure(f)[0] for name, f in OPS.items()}
    a, b = socket.socketpair()
    if os.fork() == 0:
        a.close()
        while True:
            d = b.recv(4096)
            if not d:
                os._exit(0)
            b.sendall(d)
    b.close()
    stop = []

    def side():
        while not stop:
            a.sendall(b"x" * 64)
            a.recv(4096)
    t = threading.Thread(target=side, daemon=True)
    t.start()
    print(f"{'operation':26s} {'alone us':>9s} {'waited us':>10s} {'switches/1k':>12s}")
    for name, f in OPS.items():
        us, sw = measure(f)
        print(f"{name:26s} {alone[name]:9.2f} {us:10.2f} {sw:12.1f}", flush=True)
    stop.append(1)
    a.close()


if __name__ == "__main__":
    main()
