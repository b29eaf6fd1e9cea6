#!/usr/bin/env python3
"""The Python client's per-frame costs, without a server (timeit, N calls each):
  encode       a GetAction frame, and a VectorRequest of a held LogReturns + GetAction, built
               afresh (the cache cleared before each call) and patched from the whole-frame cache
  decode       an Actions reply and a VectorReply [Ack, Actions] (as the server sends them), read
               in full (wire_reader) and by shape (reply_shapes)
Usage: PYTHONPATH=build/python python3 bench/python_wire.py [N]
"""
import os
import sys
import timeit

import tandem  # noqa: F401  (first: it limits numpy's BLAS threads)
import numpy as np

from tandem import codec, fastwire, reply_shapes

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "python"))
from test_codec import lone_actions_reply  # noqa: E402  (the generated code's frames)


def per_call(f, n):
    return timeit.timeit(f, number=n) / n * 1e6


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
    obs = np.array([0.01, -0.02, 0.03, 0.04], np.float32)
    agents = [("default_agent", obs, None)]
    get = ("GetAction", ("ep-1", agents))
    step = [("LogReturns", ("ep-1", [("default_agent", 1.0, False)])), get]

    def fresh(f):
        def g():
            fastwire._CACHE.clear()
            return f()
        return g
    rows = [
        ("encode GetAction, built", per_call(fresh(lambda: codec.encode(5, *get)), n // 10)),
        ("encode GetAction, cached frame", per_call(lambda: codec.encode(5, *get), n)),
        ("encode [LogReturns, GetAction], built", per_call(fresh(lambda: codec.encode_vector(5, step)), n // 10)),
        ("encode [LogReturns, GetAction], cached frame", per_call(lambda: codec.encode_vector(5, step), n)),
    ]
    for what, held in (("Actions", 0), ("VectorReply [Ack, Actions]", 1)):
        frame = lone_actions_reply(123456789, [1], [], 7, held_acks=held)

        def full():
            reply_shapes.clear()  # the full reader every time (clearing costs ~0.05 us)
            return codec.decode_reply(frame)
        codec.decode_reply(frame)
        rows.append((f"decode {what}, full reader + learn", per_call(full, n // 10)))
        codec.decode_reply(frame)
        assert reply_shapes.read(frame) is not None
        rows.append((f"decode {what}, by shape", per_call(lambda: codec.decode_reply(frame), n)))
    for what, us in rows:
        print(f"{what:48s} {us:7.2f} us")


if __name__ == "__main__":
    main()
