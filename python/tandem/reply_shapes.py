"""Step replies of a shape seen before, read without walking their tables.

A simulator gets the same reply frame again and again: an Actions table for one agent (a
lone get_action), or a VectorReply of Acks and such Actions (log_returns held in front of
get_action, or a vectorised step). Only a few scalars differ from one frame to the next: the
request id, each policy version, each action's values. The first such frame goes through
the full reader (wire_reader._Reader, which checks every offset against the frame); learn()
then keeps its bytes with those scalars cut out, by frame length (MAX_PER_LENGTH shapes per
length).

A later frame of the same length whose other bytes are all equal has the same vtables,
offsets, reply types and vector lengths, which were checked once, so read() takes its
scalars at the same positions. Any other frame (another length, another byte anywhere
outside the cut-out scalars) returns None and goes through the full reader. The scalars
themselves can be any bit pattern: every one is a valid value of its type. learn() keeps a
shape only when the walk does not read the scalars' bytes for anything else (see there).

Thread rules: the table is shared by every client of the process. A shape is never changed
once made; adding and clearing are single dict operations (atomic under the GIL). The
learning budget's counters may lose an update between threads: they only pace learning.
"""
import struct

from tandem import wire_reader
from tandem.fastwire import M_ACTIONS, M_VREP, R_ACK, R_ACTIONS

MAX_SHAPES = 256         # frame lengths kept
MAX_PER_LENGTH = 4       # shapes kept per frame length (replies that alternate)
MAX_ENTRIES = 64         # a larger VectorReply is read in full
_u8 = struct.Struct("<B")
_u64 = struct.Struct("<Q")
_i64 = struct.Struct("<q")
_STRUCTS = {}            # format -> Struct
_SHAPES = {}             # frame length -> tuple of _Shape, newest first
# Learning costs ~4 full reads. It is judged every LEARN_WINDOW attempts: when the shapes got
# fewer than 4 hits per attempt (replies that keep changing shape: many agent sets, or more
# than MAX_PER_LENGTH alternating shapes of one length), learning stops for PAUSE_READS
# full reads. _budget: [hits, attempts in this window, full reads left to skip].
LEARN_WINDOW = 64
PAUSE_READS = 10000
_budget = [0, 0, 0]


class _Shape:
    __slots__ = ("segments", "rid_at", "message_type", "entries")

    def __init__(self, segments, rid_at, message_type, entries):
        self.segments = segments          # [(start, end, bytes)]: everything but the scalars
        self.rid_at = rid_at
        self.message_type = message_type  # M_ACTIONS or M_VREP
        # Per Actions table: (version position or 0 (absent: 0), agent id, (position, Struct)
        # of the discrete values or None, the same of the continuous values); None for an Ack.
        self.entries = entries


def _actions(buf, e):
    version_at, agent_id, discrete, continuous = e
    d = discrete[1].unpack_from(buf, discrete[0]) if discrete else ()
    c = continuous[1].unpack_from(buf, continuous[0]) if continuous else ()
    return [(agent_id, d, c)], (_i64.unpack_from(buf, version_at)[0] if version_at else 0)


def read(buf):
    """(request id, message type, value) of a frame of a known shape, else None. The value is
    what the full reader gives: for M_ACTIONS ([(agent_id, discrete, continuous)], policy
    version), as wire_reader._Reader.actions; for M_VREP [(reply type, value)], as
    wire_reader.read_vector_reply."""
    shapes = _SHAPES.get(len(buf))
    if shapes is None:
        return None
    for s in shapes:  # (the comparison written out: this runs on every reply)
        for start, end, seg in s.segments:
            if buf[start:end] != seg:
                break
        else:
            break
    else:
        return None
    _budget[0] += 1
    rid = _u64.unpack_from(buf, s.rid_at)[0]
    if s.message_type == M_ACTIONS:
        return rid, M_ACTIONS, _actions(buf, s.entries[0])
    return rid, M_VREP, [(R_ACK, None) if e is None else (R_ACTIONS, _actions(buf, e)) for e in s.entries]


def _entry(r, a_table, holes):
    """The descriptor of an Actions table with one agent (its scalars added to holes; formats
    for Structs), or None when it is not one."""
    n, p = r.vector(a_table, 0, 4)
    if n != 1:
        return None
    version_at = r.field(a_table, 1)
    if version_at:
        holes.append((version_at, 8))
    a = r.deref(p)
    agent_id = r.text(a, 0)
    discrete = continuous = None
    n, p = r.vector(a, 1, 8)
    if n:
        discrete = (p, f"<{n}q")
        holes.append((p, 8 * n))
    n, p = r.vector(a, 2, 4)
    if n:
        continuous = (p, f"<{n}f")
        holes.append((p, 4 * n))
    return version_at, agent_id, discrete, continuous


def _describe(buf):
    """(protocol version, message type, request id position, entries, holes) of a frame as the
    full reader walks it, or None when it is not a step's reply this module reads (or not a
    valid frame)."""
    try:
        r, version, _, t, m = wire_reader.read_envelope(buf)
        rid_at = r.field(r.deref(0), 1)
        if not m or not rid_at:
            return None  # request id 0 (an absent field): not a step's reply
        holes = [(rid_at, 8)]
        if t == M_ACTIONS:
            r.actions(m)  # every check of the full reader
            e = _entry(r, m, holes)
            if e is None:
                return None
            entries = [e]
        elif t == M_VREP:
            tables = r.tables(m, 0)
            if len(tables) > MAX_ENTRIES or any(r.scalar(x, 0, _u8) not in (R_ACK, R_ACTIONS) for x in tables):
                return None  # many entries, an Error, an EpisodeStarted: read in full every time
            wire_reader.read_vector_reply(r, m)  # every check of the full reader
            entries = []
            for x in tables:
                if r.scalar(x, 0, _u8) == R_ACK:
                    entries.append(None)
                    continue
                e = _entry(r, r.ref(x, 1), holes)
                if e is None:
                    return None
                entries.append(e)
        else:
            return None
        return version, t, rid_at, tuple(entries), tuple(sorted(holes))
    except (IndexError, struct.error, ValueError, UnicodeError):
        return None


def _may_learn(r, message_type, m):
    """A cheap look at a frame just read in full (r: its reader, m: its message table): could
    it be a step's reply of a shape learn() keeps?"""
    if message_type == M_ACTIONS:
        return r.vector(m, 0, 4)[0] == 1
    if message_type != M_VREP:
        return False
    tables = r.tables(m, 0)
    if len(tables) > MAX_ENTRIES:
        return False
    for x in tables:
        rt = r.scalar(x, 0, _u8)
        if rt == R_ACTIONS:
            if r.vector(r.ref(x, 1), 0, 4)[0] != 1:
                return False
        elif rt != R_ACK:
            return False
    return True


def learn(buf, r, message_type, m):
    """Keeps the shape of a frame the full reader r has just read without error (m: its
    message table), when it is an Actions reply for one agent or a VectorReply of at most
    MAX_ENTRIES such Actions and Acks.

    A shape is kept only when its scalars are nothing but scalars: the frame is walked again
    with every scalar byte set to 0x00, 0xFF and 0x5A, and each walk must find the same
    version, type, positions and agent ids. A frame built so that a scalar's bytes are also
    read as an offset, a length, a type, a version or an id (a vtable pointing into the action
    values, say) changes under these walks and is always read in full. (A frame crafted to
    pass all three, with copies of a vtable at each probed place, can at most make the client
    take values that a well-formed frame of the shape could carry as well.)"""
    if _budget[2] > 0:
        _budget[2] -= 1
        return
    if not _may_learn(r, message_type, m):
        return
    _budget[1] += 1
    if _budget[1] >= LEARN_WINDOW:
        paused = _budget[0] < 4 * _budget[1]  # shapes hardly used again
        _budget[:] = [0, 0, PAUSE_READS if paused else 0]
        if paused:
            return
    buf = bytes(buf)
    d = _describe(buf)
    if d is None:
        return
    _, message_type, rid_at, entries, holes = d
    segments, at = [], 0
    for p, size in holes:
        if p < at:
            return  # overlapping fields: not a frame this shortcut reads
        if p > at:
            segments.append((at, p, buf[at:p]))
        at = p + size
    if at < len(buf):
        segments.append((at, len(buf), buf[at:]))
    for fill in (0x00, 0xFF, 0x5A):
        probe = bytearray(buf)
        for p, size in holes:
            probe[p:p + size] = bytes([fill]) * size
        if _describe(bytes(probe)) != d:
            return
    entries = [None if e is None else (e[0], e[1], _struct_of(e[2]), _struct_of(e[3])) for e in entries]
    if len(_SHAPES) >= MAX_SHAPES:
        _SHAPES.clear()  # a process that sees many shapes starts over
    old = _SHAPES.get(len(buf), ())
    _SHAPES[len(buf)] = (_Shape(segments, rid_at, message_type, entries),) + old[:MAX_PER_LENGTH - 1]


def _struct_of(placed):
    if placed is None:
        return None
    p, fmt = placed
    st = _STRUCTS.get(fmt)
    if st is None:
        st = _STRUCTS[fmt] = struct.Struct(fmt)
    return p, st


def clear():
    _SHAPES.clear()
    _budget[:] = [0, 0, 0]
