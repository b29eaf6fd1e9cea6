"""The policy's forward pass in numpy, rebuilt from GetConfig's model description and the
Weights tensors (core/model_description.h states the function; the C++ model computes the
same, and tests/python/test_parity.py holds the two to 1e-5).

    x  -> policy trunk (act(x W^T + b) per layer) -> policy head -> dist_inputs
    x  -> value trunk (or the policy trunk when vf_share_layers) -> value head -> v
    Categorical / MultiCategorical (masked logits: masked_logit) / DiagGaussian (mean, log_std)
"""
import math
import random
from dataclasses import dataclass

import numpy as np

from tandem.arrays import f32_flat, f32_join
from tandem.spaces import Space

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_EMPTY = np.zeros(0, np.float32)  # the continuous part of a discrete action
_EMPTY.flags.writeable = False


def _activation_in_place(name):
    """The activation writing into its argument (a fresh array of the forward pass)."""
    if name == "tanh":
        return lambda x: np.tanh(x, out=x)
    if name == "relu":
        return lambda x: np.maximum(x, 0.0, out=x)
    act = _activation(name)
    return act


def _activation(name):
    if name == "tanh":
        return np.tanh
    if name == "relu":
        return lambda x: np.maximum(x, 0.0, dtype=np.float32)
    if name == "elu":
        return lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))).astype(np.float32)
    if name == "linear":
        return lambda x: x
    raise ValueError(f"unknown activation {name!r}")


def _softmax(seg):
    """(max, unnormalised probabilities, their sum) of a list of logits, in double (as
    core/action_logp.cpp and the C++ sampler)."""
    mx = max(seg)
    ps = [math.exp(x - mx) for x in seg]
    return mx, ps, sum(ps)


def categorical_logp(logits, parts, offsets, discrete):
    """log-prob of a (Multi)Discrete action under concatenated logits, in double (as
    core/action_logp.cpp)."""
    logits = np.asarray(logits, np.float32).tolist()
    lp = 0.0
    for c, n in enumerate(parts):
        o = int(offsets[c])
        seg = logits[o:o + n]
        mx, _, total = _softmax(seg)
        lp += seg[int(discrete[c])] - mx - math.log(total)
    return float(np.float32(lp))


@dataclass
class ActionResult:
    discrete: list          # Discrete: [a]; MultiDiscrete: one per component; Box: []
    continuous: np.ndarray  # Box: the raw sample (unclipped); else empty
    logp: float
    vf_pred: float
    dist_inputs: np.ndarray


class WeightsMismatch(ValueError):
    pass


class NumpyPolicy:
    """One policy's model; immutable once built, so any thread may use it."""
    scripted = False  # tandem/scripted.py: the policies without a model

    def __init__(self, description, tensors, version):
        d = description
        if d.get("format") != "tandem-mlp-actor-critic/1":
            raise WeightsMismatch(f"model format {d.get('format')!r} is not supported by this client")
        self.version = int(version)
        self.description = d  # GetConfig's description (tandem/onnx_export.py reads it)
        self.observation_space = Space(d["observation_space"])
        self.action_space = Space(d["action_space"])
        self.input_size = int(d["input_size"])
        self.clip = float(d["observation_clip"])
        self.dist_dim = int(d["dist_dim"])
        self.distribution = d["distribution"]
        self.masked_logit = np.float32(d["masked_logit"])
        self.act = _activation(d["activation"])
        self._act_in_place = _activation_in_place(d["activation"])
        want = {t["name"]: tuple(t["shape"]) for t in d["tensors"]}
        if set(tensors) != set(want):
            missing, extra = sorted(set(want) - set(tensors)), sorted(set(tensors) - set(want))
            raise WeightsMismatch(f"weights do not fit the model: missing {missing}, unexpected {extra}")
        for name, shape in want.items():
            if tuple(tensors[name].shape) != shape:
                raise WeightsMismatch(f"tensor {name!r} has shape {tuple(tensors[name].shape)}, the model {shape}")
        self.tensors = {k: np.asarray(v, dtype=np.float32) for k, v in tensors.items()}

        def layers(names):  # (W^T contiguous [in, out], b [out])
            return [(np.ascontiguousarray(self.tensors[n + ".weight"].T), self.tensors[n + ".bias"]) for n in names]

        self.pi_trunk = layers(d["policy_trunk"])
        self.pi_head = layers([d["policy_head"]])[0]
        self.share = bool(d["vf_share_layers"])
        self.vf_trunk = [] if self.share else layers(d["value_trunk"])
        self.vf_head = layers([d["value_head"]])[0]
        self.log_std = self.tensors.get("log_std") if d["free_log_std"] else None
        if self.distribution == "categorical":
            self.parts = [int(self.action_space.n)]
        elif self.distribution == "multi_categorical":
            self.parts = [int(n) for n in self.action_space.nvec]
        else:
            self.parts = None
        if self.parts is not None:
            self.offsets = np.concatenate(([0], np.cumsum(self.parts)[:-1])).astype(np.int64)
        self._fuse()

    def _fuse(self):
        """The policy and value networks as one: each layer's weights side by side (separate
        trunks: block-diagonal), the heads as one matrix whose last column is the value. One
        matmul per layer instead of two: the same function, cheaper for small batches."""
        def block(a, b):
            out = np.zeros((a.shape[0] + b.shape[0], a.shape[1] + b.shape[1]), np.float32)
            out[:a.shape[0], :a.shape[1]] = a
            out[a.shape[0]:, a.shape[1]:] = b
            return out
        layers = []
        if self.share:
            layers = list(self.pi_trunk)
            head_w = np.concatenate([self.pi_head[0], self.vf_head[0]], axis=1)
        else:
            for k, ((pw, pb), (vw, vb)) in enumerate(zip(self.pi_trunk, self.vf_trunk)):
                w = np.concatenate([pw, vw], axis=1) if k == 0 else block(pw, vw)
                layers.append((w, np.concatenate([pb, vb])))
            if self.pi_trunk:
                head_w = block(self.pi_head[0], self.vf_head[0])
            else:
                head_w = np.concatenate([self.pi_head[0], self.vf_head[0]], axis=1)
        self._fused = [(np.ascontiguousarray(w, np.float32), b.astype(np.float32)) for w, b in layers]
        self._fused_head = (np.ascontiguousarray(head_w, np.float32),
                            np.concatenate([self.pi_head[1], self.vf_head[1]]).astype(np.float32))
        self._n_out = self.pi_head[1].shape[0]

    def forward1(self, x):
        """The forward pass of one preprocessed observation: (dist_inputs [dist_dim], value)."""
        h, act, matmul = x, self._act_in_place, np.matmul
        for w, b in self._fused:
            h = matmul(h, w)  # a fresh array: the bias and the activation go into it
            h += b
            h = act(h)
        out = matmul(h, self._fused_head[0])
        out += self._fused_head[1]
        n = self._n_out
        dist = out[:n] if self.log_std is None else f32_join([out[:n], self.log_std])
        return dist, float(out[n])

    # ---- forward pass ----
    def _trunk(self, layers, x):
        for wt, b in layers:
            x = self.act(x @ wt + b)
        return x

    def preprocess(self, raw):
        return self.observation_space.preprocess(raw, self.clip)

    def value(self, raw):
        return self.forward1(self.preprocess(raw))[1]

    # ---- distributions ----
    def logp(self, dist_inputs, discrete, continuous):
        """log-prob of an action under dist_inputs, as core/action_logp.h computes it."""
        if self.parts is None:  # in double, through Python floats (no array copies: tandem/arrays.py)
            d = len(continuous)
            vals = np.asarray(dist_inputs, np.float32).tolist()
            lp = 0.0
            for x, mean, log_std in zip(np.asarray(continuous, np.float32).tolist(), vals[:d], vals[d:2 * d]):
                z = (x - mean) / math.exp(log_std)
                lp += -0.5 * z * z - log_std - _LOG_SQRT_2PI
            return float(np.float32(lp))
        return categorical_logp(dist_inputs, self.parts, self.offsets, discrete)

    def forward_batch(self, x):
        """The forward pass of n preprocessed observations [n, input_size]: (dist_inputs
        [n, dist_dim], values [n] as floats). One matmul per layer for all n: forward1's function
        row by row, equal up to float rounding (the batched BLAS kernel sums in another order;
        tests/python/test_parity.py holds both to the C++ model within 1e-5)."""
        h, act, matmul = x, self._act_in_place, np.matmul
        for w, b in self._fused:
            h = matmul(h, w)
            h += b
            h = act(h)
        out = matmul(h, self._fused_head[0])
        out += self._fused_head[1]
        n = self._n_out
        if self.log_std is None:
            dist = out[:, :n]
        else:
            dist = np.concatenate([out[:, :n], np.broadcast_to(self.log_std, (out.shape[0], self.log_std.shape[0]))], axis=1)
        return dist, out[:, n].tolist()

    def compute_action(self, raw, mask=None, explore=True, rng=None):
        """One action for one raw observation (valid for the space); mask: None or dist_dim floats.
        Sampling and log-probs as the C++ model computes them (in double, first maximum greedy)."""
        dist, v = self.forward1(self.preprocess(raw))
        return self.sample(dist, v, mask, explore, rng)

    def sample(self, dist, v, mask=None, explore=True, rng=None):
        """The action for dist_inputs `dist` (an array this call may write into: masking) and
        value v, as compute_action takes it after the forward pass."""
        rng = rng or random
        if self.parts is None:  # mean + std * z in double, rounded to float32 (as the C++ sampler)
            d = self.dist_dim // 2
            vals = dist.tolist()
            if explore:
                exp, gauss = math.exp, rng.gauss
                cont = f32_flat([m + exp(s) * gauss(0.0, 1.0) for m, s in zip(vals[:d], vals[d:])])
            else:
                cont = f32_flat(vals[:d])
            return ActionResult([], cont, self.logp(dist, [], cont), v, dist)
        if mask is not None:
            dist[np.asarray(mask) <= 0] = self.masked_logit
        logits = dist.tolist()
        actions, lp = [], 0.0
        log = math.log
        for c, n in enumerate(self.parts):
            o = int(self.offsets[c])
            seg = logits[o:o + n]
            mx, ps, total = _softmax(seg)
            a = seg.index(mx)  # the first maximum
            if explore:
                u = rng.random() * total
                cum = 0.0
                for k, p in enumerate(ps):
                    cum += p
                    if p > 0.0:
                        a = k  # the last action with p > 0 absorbs rounding at the top
                        if u < cum:
                            break
            actions.append(a)
            lp += seg[a] - mx - log(total)
        return ActionResult(actions, _EMPTY, float(np.float32(lp)), v, dist)


class WeightAssembler:
    """Puts the chunks of one Weights reply together, refusing parts that do not fit
    (as core/weight_tensors.h does)."""

    MAX_TENSORS = 4096
    MAX_FLOATS = 1 << 28
    MAX_CHUNKS = 4096

    def __init__(self):
        self.tensors = {}   # name -> (shape, list of arrays, filled)
        self.order = []
        self.policy_id = None
        self.version = None
        self.num_chunks = 0
        self.next_chunk = 0
        self.total = 0

    def add(self, w):
        """Adds chunk w (a codec.WeightsReply); returns None, or the reason it is refused."""
        if self.next_chunk == 0:
            self.policy_id, self.version, self.num_chunks = w.policy_id, w.version, w.num_chunks
            if not 1 <= self.num_chunks <= self.MAX_CHUNKS:
                return f"num_chunks {self.num_chunks} is not in [1, {self.MAX_CHUNKS}]"
        elif (w.policy_id, w.version, w.num_chunks) != (self.policy_id, self.version, self.num_chunks):
            return f"chunk {w.chunk_index} belongs to another weight set"
        if w.chunk_index != self.next_chunk:
            return f"chunk {w.chunk_index} arrived, expected {self.next_chunk}"
        self.next_chunk += 1
        for p in w.tensors:
            n = math.prod(int(x) for x in p.shape)  # exact: no wrap-around
            if not p.name:
                return "a tensor has no name"
            if any(s < 0 for s in p.shape) or n > self.MAX_FLOATS:
                return f"tensor {p.name!r} has a bad shape"
            last = self.order[-1] if self.order else None
            if last == p.name and self.tensors[last][2] < self._numel(last):
                if tuple(p.shape) != self.tensors[last][0]:
                    return f"tensor {p.name!r} changes its shape between parts"
            else:
                if last is not None and self.tensors[last][2] != self._numel(last):
                    return f"tensor {last!r} ends before all its elements arrived"
                if p.name in self.tensors:
                    return f"tensor {p.name!r} appears twice"
                if len(self.order) >= self.MAX_TENSORS:
                    return "too many tensors"
                self.tensors[p.name] = (tuple(p.shape), [], 0)
                self.order.append(p.name)
            shape, parts, filled = self.tensors[p.name]
            if p.offset != filled:
                return f"tensor {p.name!r}: part at offset {p.offset}, expected {filled}"
            if filled + len(p.data) > n:
                return f"tensor {p.name!r}: parts hold more than its {n} elements"
            self.total += len(p.data)
            if self.total > self.MAX_FLOATS:
                return f"more than {self.MAX_FLOATS} floats"
            parts.append(p.data)
            self.tensors[p.name] = (shape, parts, filled + len(p.data))
        if self.complete() and self.order and self.tensors[self.order[-1]][2] != self._numel(self.order[-1]):
            return f"tensor {self.order[-1]!r} ends before all its elements arrived"
        return None

    def _numel(self, name):
        return math.prod(self.tensors[name][0])

    def complete(self):
        return self.num_chunks > 0 and self.next_chunk == self.num_chunks

    def take(self):
        """{name: float32 array of its shape}."""
        out = {}
        for name in self.order:
            shape, parts, _ = self.tensors[name]
            data = np.concatenate(parts) if parts else np.zeros(0, np.float32)
            out[name] = data.astype(np.float32).reshape(shape)
        return out
