"""Spaces as the server describes them in GetConfig, with the checks and preprocessing of
core/spaces.h: the local client refuses what the server would refuse, with the same codes.

Dict and Tuple observation spaces (core/spaces.h): the raw value is the concatenation of the
components' raw values, depth-first, Dict components in SORTED key order, Tuple components in
order; the preprocessed value the concatenation of the components' preprocessed values.
flatten_named() turns named components into that flat raw value (core/named_obs.h).
"""
import math
from collections.abc import Mapping

import numpy as np

BOX_TOLERANCE = 1e-4


MAX_SPACE_DEPTH = 8  # core/spaces.h kMaxSpaceDepth


class Space:
    def __init__(self, j, _depth=0):
        self.kind = j["type"]
        self.json = j
        if self.kind in ("dict", "tuple"):
            if _depth >= MAX_SPACE_DEPTH:
                raise ValueError(f"Dict/Tuple nested deeper than {MAX_SPACE_DEPTH}")
            if self.kind == "dict":
                self.keys = sorted(j["spaces"])
                self.components = [Space(j["spaces"][k], _depth + 1) for k in self.keys]
            else:
                self.keys = None
                self.components = [Space(c, _depth + 1) for c in j["spaces"]]
            if not self.components:
                raise ValueError(f"{self.kind} space with no components")
            self.size = sum(c.size for c in self.components)
            self._pre_size = sum(c.preprocessed_size for c in self.components)
            self._raw_offsets = np.cumsum([0] + [c.size for c in self.components]).tolist()
            self.nvec = None
            self._uniform = False
            return
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
    def composite(self):
        return self.kind in ("dict", "tuple")

    def child_path(self, path, i):
        """The path of component i below this space at `path`: "a", "a.b", "t[1]", "[0]"."""
        if self.kind == "tuple":
            return f"{path}[{i}]"
        return f"{path}.{self.keys[i]}" if path else self.keys[i]

    @property
    def preprocessed_size(self):
        if self.composite:
            return self._pre_size
        if self.kind == "box":
            return self.size
        return int(self.nvec.sum())

    def describe(self):
        if self.kind == "dict":
            return "Dict(" + ", ".join(f"{k}: {c.describe()}" for k, c in zip(self.keys, self.components)) + ")"
        if self.kind == "tuple":
            return "Tuple(" + ", ".join(c.describe() for c in self.components) + ")"
        if self.kind == "box":  # as core/spaces.cpp: "Box(4,)", "Box(3, 2)"
            return f"Box({', '.join(map(str, self.shape))}{',' if len(self.shape) == 1 else ''})"
        if self.kind == "discrete":
            return f"Discrete({self.n})"
        return f"MultiDiscrete({list(map(int, self.nvec))})"

    def validate(self, raw):
        """None when raw (a flat float32 array) is a valid value, else the reason (in a
        Dict/Tuple naming the component: "component 'robot_position': element 1 ...")."""
        if self.composite:
            if raw.size != self.size:
                return f"expected {self.size} values for {self.describe()[:400]}, got {raw.size}"
            return self._validate_at(raw, "")
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

    def _validate_at(self, raw, path):
        o = self._raw_offsets
        for i, c in enumerate(self.components):
            part, p = raw[o[i]:o[i + 1]], self.child_path(path, i)
            why = c._validate_at(part, p) if c.composite else c.validate(part)
            if why is not None:
                return why if c.composite else f"component {p!r}: {why}"
        return None

    def preprocess(self, raw, clip):
        """The model's input for a valid raw value (Box: clipped to +-clip when clip > 0)."""
        if self.composite:
            o = self._raw_offsets
            return np.concatenate([np.asarray(c.preprocess(raw[o[i]:o[i + 1]], clip), np.float32)
                                   for i, c in enumerate(self.components)])
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


def _is_scalar(x):
    return isinstance(x, (int, float, np.integer, np.floating)) or (isinstance(x, np.ndarray) and x.ndim == 0)


def _flat_value(space, value, path, out):
    """Appends the raw value of one component given by name (core/named_obs.h)."""
    if space.kind == "dict" and isinstance(value, Mapping):
        _flatten_dict(space, value, path, out)
        return
    if space.kind == "tuple" and isinstance(value, (list, tuple)) and not all(_is_scalar(v) for v in value):
        if len(value) != len(space.components):
            raise ValueError(f"component {path!r} has {len(value)} parts, {space.describe()[:200]} has "
                             f"{len(space.components)}")
        for i, (c, v) in enumerate(zip(space.components, value)):
            _flat_value(c, v, space.child_path(path, i), out)
        return
    try:
        a = np.asarray(value, np.float32).reshape(-1)
    except (TypeError, ValueError):
        raise ValueError(f"component {path!r} is not a list of numbers") from None
    if a.size != space.size:
        raise ValueError(f"component {path!r} has {a.size} values, {space.describe()[:200]} needs {space.size}")
    out.append(a)


def _flatten_dict(space, named, path, out):
    for k in named:
        if k not in space.json["spaces"]:
            p = f"{path}.{k}" if path else str(k)
            raise ValueError(f"unknown component {p!r} (the Dict has: {', '.join(space.keys[:16])})")
    for i, (k, c) in enumerate(zip(space.keys, space.components)):
        p = space.child_path(path, i)
        if k not in named:
            raise ValueError(f"component {p!r} ({c.describe()[:200]}) is missing")
        _flat_value(c, named[k], p, out)


def flatten_named(space, named):
    """The flat raw value (float32) of a Dict observation given by component name: {name:
    value}; a nested Dict as a nested dict, a Tuple as a list of its parts' values (or its flat
    raw value). Raises ValueError naming the component: unknown, missing, wrong size, or a space
    that is not a Dict."""
    if space.kind != "dict":
        raise ValueError(f"named components need a Dict observation space; this one is "
                         f"{space.describe()[:200]} (send the flat vector)")
    out = []
    _flatten_dict(space, named, "", out)
    return np.concatenate(out)


def finite_float(x):
    return isinstance(x, (int, float)) and math.isfinite(x)
