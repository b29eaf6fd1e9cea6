"""Scripted (never trained) policies in local mode: the server's scripted policies
(core/scripted_policy.h states them; GetConfig describes one as {"format":
"tandem-scripted/1", "script": ...}), run in this process like the learned models.

    random       uniform over the allowed actions
    always_same  one action drawn per episode (uniform over all n), kept while allowed;
                 masked: a random allowed one is drawn and kept instead
    linear       the lowest-numbered allowed action
    beat_last    the column the opponent played last (the one column whose opponent plane,
                 plane 1 of a [rows, cols, 2] board, gained a stone since this agent's
                 previous observation in the episode), if allowed; else random allowed

A ScriptMemory per agent and episode holds what always_same and beat_last remember.
"""
import numpy as np

from tandem.model import ActionResult, WeightsMismatch, categorical_logp
from tandem.spaces import Space

FORMAT = "tandem-scripted/1"
SCRIPTS = ("random", "always_same", "linear", "beat_last")
_EMPTY = np.zeros(0, np.float32)
_EMPTY.flags.writeable = False


class ScriptMemory:
    __slots__ = ("kept", "plane")

    def __init__(self):
        self.kept = -1      # always_same: the action it keeps
        self.plane = None   # beat_last: opponent plane of the previous observation (list)


class ScriptedPolicy:
    """One scripted policy; immutable, so any thread may use it (the memory is per episode)."""
    scripted = True
    version = 0

    def __init__(self, description):
        d = description
        if d.get("format") != FORMAT or d.get("script") not in SCRIPTS:
            raise WeightsMismatch(f"not a scripted policy this client knows: {d.get('format')!r} {d.get('script')!r}")
        self.script = d["script"]
        self.observation_space = Space(d["observation_space"])
        self.action_space = Space(d["action_space"])
        if self.action_space.kind != "discrete":
            raise WeightsMismatch(f"scripted policy {self.script!r} needs a Discrete action space")
        self.n = int(self.action_space.n)
        self.parts = [self.n]
        self.masked_logit = np.float32(d["masked_logit"])
        if self.script == "beat_last":
            shape = list(self.observation_space.shape)
            if len(shape) != 3 or shape[2] != 2 or shape[1] != self.n:
                raise WeightsMismatch(f"beat_last needs a [rows, {self.n}, 2] board, got {shape}")
            self.cells, self.cols = shape[0] * shape[1], shape[1]

    def _allowed(self, mask):
        if mask is None or len(mask) == 0:
            return list(range(self.n))
        return [a for a, m in enumerate(np.asarray(mask, np.float32).tolist()) if m != 0.0]

    def _choose(self, raw, allowed, memory, rng):
        if not allowed:  # the request checks refuse a mask that allows nothing
            return 0
        if self.script == "random":
            return allowed[rng.randrange(len(allowed))]
        if self.script == "linear":
            return allowed[0]
        if self.script == "always_same":
            if memory.kept < 0:
                memory.kept = rng.randrange(self.n)
            if memory.kept not in allowed:
                memory.kept = allowed[rng.randrange(len(allowed))]
            return memory.kept
        plane = np.asarray(raw, np.float32).reshape(-1)[1:2 * self.cells:2].tolist()
        before = memory.plane if memory.plane is not None else [0.0] * self.cells
        gained = [i % self.cols for i in range(self.cells) if plane[i] != 0.0 and before[i] == 0.0]
        memory.plane = plane
        if len(gained) == 1 and gained[0] in allowed:
            return gained[0]
        return allowed[rng.randrange(len(allowed))]

    def act(self, raw, mask, memory, rng, action=None):
        """The ActionResult of one agent (the C++ scripted_action's): its action (or the logged
        `action`), vf 0, dist_inputs 0 / masked_logit, logp uniform over the allowed ones."""
        allowed = self._allowed(mask)
        a = self._choose(raw, allowed, memory, rng)
        if action is not None:
            a = int(action)
        dist = np.zeros(self.n, np.float32)
        if mask is not None and len(mask):
            dist[np.asarray(mask, np.float32) == 0] = self.masked_logit
        return ActionResult([a], _EMPTY, self.logp(dist, [a], _EMPTY), 0.0, dist)

    def logp(self, dist_inputs, discrete, continuous):
        return categorical_logp(dist_inputs, self.parts, (0,), discrete)

    def value(self, raw):
        return 0.0
