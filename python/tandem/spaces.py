"""Spaces as the server describes them in GetConfig, with the checks and preprocessing of
core/spaces.h: the local client refuses what the server would refuse, with the same codes."""
import math

import numpy as np

BOX_TOLERANCE = 1e-4


class Space:
    def __init__(self, j):
        self.kind = j["type"]
        if self.kind == "box":
            self.shape = tuple(int(x) for x in j["shape"])
            self.size = int(np.prod(self.shape)) if self.shape else 1
            big = float(np.finfo(np.float32).max)  # unbounded: any finite value
            self.low = self._bound(j.get("low", -big))
            self.high = self._bound(j.get("high", big))
            self.nvec = None
        elif self.kind == "discrete":
            self.n = int(j["n"])
            self.size = 1
            self.nvec = np.array([self.n], dtype=np.int64)
        elif self.kind == "multi_discrete":
            self.nvec = np.array(j["nvec"], dtype=np.int64)
            self.size = len(self.nvec)
        else:
            raise ValueError(f"unknown space type {self.kind!r}")
        self.json = j
        # The accepted range of each element, tolerance included (Box), for a fast check.
        if self.kind == "box":
            with np.errstate(over="ignore"):  # an unbounded side stays at +-float32 max
                lo = self.low.astype(np.float64) - BOX_TOLERANCE * np.maximum(1.0, np.abs(self.low.astype(np.float64)))
                hi = self.high.astype(np.float64) + BOX_TOLERANCE * np.maximum(1.0, np.abs(self.high.astype(np.float64)))
                fmax = np.finfo(np.float32).max
                self._lo = np.maximum(lo, -fmax).astype(np.float32)
                self._hi = np.minimum(hi, fmax).astype(np.float32)
            self._range = (float(self._lo.min()), float(self._hi.max())) if self.size else (0.0, 0.0)
            # A small Box with one bound for all elements is checked in Python: cheaper than
            # numpy's reductions for a few values.
            self._uniform = (0 < self.size <= 64 and float(self._lo.max()) == self._range[0]
                             and float(self._hi.min()) == self._range[1])
        else:
            self._lo = np.zeros(self.size, np.float32)
            self._hi = (self.nvec - 1).astype(np.float32)
            self._offsets = np.concatenate(([0], np.cumsum(self.nvec)[:-1])).astype(np.int64)
            self._uniform = False

    def _bound(self, b):
        a = np.asarray(b, dtype=np.float32).reshape(-1)
        return np.full(self.size, a[0], np.float32) if a.size == 1 else a

    @property
    def preprocessed_size(self):
        if self.kind == "box":
            return self.size
        return int(self.nvec.sum())

    def describe(self):
        if self.kind == "box":
            return f"Box({', '.join(map(str, self.shape))},)"
        if self.kind == "discrete":
            return f"Discrete({self.n})"
        return f"MultiDiscrete({list(map(int, self.nvec))})"

    def validate(self, raw):
        """None when raw (a flat float32 array) is a valid value, else the reason."""
        # Fast paths: in range (NaN fails both comparisons) and, for (Multi)Discrete, integers.
        if self._uniform and raw.size == self.size:
            lo, hi = self._range
            for v in raw.tolist():
                if not lo <= v <= hi:
                    break
            else:
                return None
        elif raw.size == self.size and ((raw >= self._lo) & (raw <= self._hi)).all() and (
                self.kind == "box" or (np.floor(raw) == raw).all()):
            return None
        if raw.size != self.size:
            return f"expected {self.size} values for {self.describe()}, got {raw.size}"
        finite = np.isfinite(raw)
        if not finite.all():
            i = int(np.argmin(finite))
            return f"element {i} is {raw[i]}, not finite"
        if self.kind == "box":
            bad = (raw < self._lo) | (raw > self._hi)
            if bad.any():
                i = int(np.argmax(bad))
                return f"element {i} is {raw[i]}, outside [{self.low[i]}, {self.high[i]}]"
            return None
        ints = np.floor(raw) == raw
        inrange = (raw >= 0) & (raw < self.nvec)
        ok = ints & inrange
        if not ok.all():
            i = int(np.argmin(ok))
            return f"element {i} is {raw[i]}, not an integer in [0, {int(self.nvec[i])})"
        return None

    def preprocess(self, raw, clip):
        """The model's input for a valid raw value (Box: clipped to +-clip when clip > 0)."""
        if self.kind == "box":
            if clip > 0 and not (-clip <= self._range[0] and self._range[1] <= clip):
                if self._uniform:  # a few values: looked at in Python, clipped only when needed
                    vals = raw.tolist()
                    if -clip <= min(vals) and max(vals) <= clip:
                        return raw
                return np.minimum(np.maximum(raw, np.float32(-clip)), np.float32(clip))
            return raw
        out = np.zeros(self.preprocessed_size, np.float32)
        out[self._offsets + raw.astype(np.int64)] = 1.0
        return out


def finite_float(x):
    return isinstance(x, (int, float)) and math.isfinite(x)
