"""Actions replies of a shape seen before, read without walking their tables.

A simulator's lone get_action gets the same reply again and again: one Actions table for
one agent, an action of the same size; only a few scalars differ from one frame to the next
(the request id, the policy version, the action's values). The first such frame goes
through the full reader (fastwire._Reader, which checks every offset against the frame);
learn() then keeps its bytes with those scalars cut out, by frame length.

A later frame of the same length whose other bytes are all equal has the same vtables,
offsets and vector lengths, which were checked once, so read() takes its scalars at the
same positions. Any other frame (another length, another byte anywhere outside the cut-out
scalars) returns None and goes through the full reader. The scalars themselves can be any
bit pattern: every one is a valid value of its type.

Thread rules: the table is shared by every client of the process. A shape is never changed
once made; adding and clearing go through single dict operations (atomic under the GIL).
"""
import struct

MAX_SHAPES = 64
_u64 = struct.Struct("<Q")
_i64 = struct.Struct("<q")
_SHAPES = {}  # frame length -> _Shape


class _Shape:
    __slots__ = ("segments", "rid_at", "version_at", "agent_id", "discrete", "continuous")

    def __init__(self, segments, rid_at, version_at, agent_id, discrete, continuous):
        self.segments = segments        # [(start, end, bytes)]: everything but the scalars
        self.rid_at = rid_at
        self.version_at = version_at    # 0: the policy version is absent (0)
        self.agent_id = agent_id
        self.discrete = discrete        # (position, Struct) or None: no discrete values
        self.continuous = continuous    # (position, Struct) or None


def read(buf):
    """(request id, [(agent_id, discrete, continuous)], policy version) of an Actions reply
    frame of a known shape, else None."""
    s = _SHAPES.get(len(buf))
    if s is None:
        return None
    for start, end, seg in s.segments:
        if buf[start:end] != seg:
            return None
    d = s.discrete[1].unpack_from(buf, s.discrete[0]) if s.discrete else ()
    c = s.continuous[1].unpack_from(buf, s.continuous[0]) if s.continuous else ()
    version = _i64.unpack_from(buf, s.version_at)[0] if s.version_at else 0
    return _u64.unpack_from(buf, s.rid_at)[0], [(s.agent_id, d, c)], version


def learn(r, env, m, actions):
    """Keeps the shape of the frame r has just read in full (env: its envelope table, m: its
    Actions table, actions: what r.actions(m) gave), when it holds one agent."""
    if len(actions) != 1:
        return
    if len(_SHAPES) >= MAX_SHAPES:
        _SHAPES.clear()  # a process that sees many shapes starts over
    buf = bytes(r.buf)
    rid_at = r.field(env, 1)
    if not rid_at:
        return  # request id 0 (absent field): not a step's reply
    holes = [(rid_at, 8)]
    version_at = r.field(m, 1)
    if version_at:
        holes.append((version_at, 8))
    a = r.deref(r.vector(m, 0, 4)[1])
    discrete = continuous = None
    n, p = r.vector(a, 1, 8)
    if n:
        discrete = (p, struct.Struct(f"<{n}q"))
        holes.append((p, 8 * n))
    n, p = r.vector(a, 2, 4)
    if n:
        continuous = (p, struct.Struct(f"<{n}f"))
        holes.append((p, 4 * n))
    holes.sort()
    segments, at = [], 0
    for p, size in holes:
        if p < at:
            return  # overlapping fields: not a frame this shortcut reads
        if p > at:
            segments.append((at, p, buf[at:p]))
        at = p + size
    if at < len(buf):
        segments.append((at, len(buf), buf[at:]))
    _SHAPES[len(buf)] = _Shape(segments, rid_at, version_at, actions[0][0], discrete, continuous)


def clear():
    _SHAPES.clear()

