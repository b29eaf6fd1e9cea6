"""Reply frames read directly with struct, the other half of tandem/fastwire.py: the replies
of every step (EpisodeStarted, Actions, Ack, Error, VectorReply, SamplesAccepted) without the
flatbuffers package's generated accessors (~100 us a step here).

Reading never trusts an offset: anything out of range raises IndexError, and the caller
(codec.decode_reply) turns it into a ProtocolError.
"""
import struct

from tandem.fastwire import R_ACTIONS, R_ERROR, R_STARTED

_u8 = struct.Struct("<B")
_u16 = struct.Struct("<H")
_u32 = struct.Struct("<I")
_i32 = struct.Struct("<i")
_u64 = struct.Struct("<Q")
_I64S = struct.Struct("<q")
_IDS = {}  # agent id bytes -> str (a frame names the same few agents again and again)


def _vector_at(buf, size, field, elem):
    """(count, position of the first element) of the vector a reference field at `field` points
    to, elements of `elem` bytes; IndexError when any of it lies outside the frame."""
    p = field + _u32.unpack_from(buf, field)[0]
    if p >= size:
        raise IndexError("offset beyond the frame")
    n = _u32.unpack_from(buf, p)[0]
    if p + 4 + n * elem > size:
        raise IndexError("vector beyond the frame")
    return n, p + 4


class _Reader:
    """Reads the tables of one frame. Every offset is checked against the frame (an offset
    before it or beyond it raises IndexError; the caller makes that a ProtocolError)."""
    __slots__ = ("buf", "size", "vtables")

    def __init__(self, buf):
        self.buf, self.size = buf, len(buf)
        self.vtables = {}  # vtable position -> its field offsets (tables of one kind share one)

    def field(self, t, slot):
        """Absolute position of field `slot` of the table at t, or 0 when absent."""
        offsets = self._slots(t)
        f = offsets[slot] if slot < len(offsets) else 0
        return t + f if f else 0

    def _vtable(self, vt):
        if vt < 0:
            raise IndexError("vtable before the frame")
        size = _u16.unpack_from(self.buf, vt)[0]
        n = max(0, (size - 4) // 2)
        return struct.unpack_from(f"<{n}H", self.buf, vt + 4)

    def deref(self, p):
        q = p + _u32.unpack_from(self.buf, p)[0]
        if q >= self.size:
            raise IndexError("offset beyond the frame")
        return q

    def vector(self, t, slot, elem):
        """(count, position of the first element) of a vector field ((0, 0) when absent)."""
        f = self.field(t, slot)
        return _vector_at(self.buf, self.size, f, elem) if f else (0, 0)

    def text(self, t, slot):
        n, p = self.vector(t, slot, 1)
        return self.buf[p:p + n].decode("utf-8", "replace") if n else ""

    def values(self, t, slot, code, elem):
        n, p = self.vector(t, slot, elem)
        return struct.unpack_from(f"<{n}{code}", self.buf, p) if n else ()

    def tables(self, t, slot):
        n, p = self.vector(t, slot, 4)
        return [self.deref(p + 4 * i) for i in range(n)]

    def scalar(self, t, slot, st, default=0):
        f = self.field(t, slot)
        return st.unpack_from(self.buf, f)[0] if f else default

    def ref(self, t, slot):
        f = self.field(t, slot)
        return self.deref(f) if f else 0

    def _slots(self, t):
        """The field offsets of the table at t (its vtable's, cached by position)."""
        if t < 0 or t >= self.size:
            raise IndexError("offset outside the frame")
        vt = t - _i32.unpack_from(self.buf, t)[0]
        offsets = self.vtables.get(vt)
        if offsets is None:
            offsets = self.vtables[vt] = self._vtable(vt)
        return offsets

    def actions(self, t):
        """An Actions table: ([(agent_id, discrete ints, continuous floats)], policy_version):
        tables(t, 0) and scalar(t, 1, i64) with their lookups written out (every reply's path)."""
        buf, size = self.buf, self.size
        offsets = self._slots(t)
        k = len(offsets)
        acts = []
        f = offsets[0] if k > 0 else 0
        if f:
            n, p = _vector_at(buf, size, t + f, 4)
            one = self._agent_action
            for q in range(p, p + 4 * n, 4):
                a = q + _u32.unpack_from(buf, q)[0]
                if a >= size:
                    raise IndexError("offset beyond the frame")
                acts.append(one(a))
        f = offsets[1] if k > 1 else 0
        return acts, (_I64S.unpack_from(buf, t + f)[0] if f else 0)

    def _agent_action(self, a):
        """(agent_id, discrete, continuous) of an AgentAction table: text(a, 0), values(a, 1, "q",
        8) and values(a, 2, "f", 4) with the vtable looked up once (the hot path of every reply)."""
        buf, size = self.buf, self.size
        offsets = self._slots(a)
        k = len(offsets)
        agent_id, discrete, continuous = "", (), ()
        if k > 0 and offsets[0]:
            n, p = _vector_at(buf, size, a + offsets[0], 1)
            if n:
                raw = bytes(buf[p:p + n])
                agent_id = _IDS.get(raw)
                if agent_id is None:
                    agent_id = raw.decode("utf-8", "replace")
                    if len(_IDS) < 4096 and n <= 128:  # agent ids, not whatever a server sends
                        _IDS[raw] = agent_id
        if k > 1 and offsets[1]:
            n, p = _vector_at(buf, size, a + offsets[1], 8)
            if n == 1:
                discrete = _I64S.unpack_from(buf, p)
            elif n:
                discrete = struct.unpack_from(f"<{n}q", buf, p)
        if k > 2 and offsets[2]:
            n, p = _vector_at(buf, size, a + offsets[2], 4)
            if n:
                continuous = struct.unpack_from(f"<{n}f", buf, p)
        return agent_id, discrete, continuous

    def error(self, t):
        return self.scalar(t, 0, _u16), self.text(t, 1)


def read_envelope(buf):
    """(reader, version, request_id, message_type, message table position or 0)."""
    r = _Reader(buf)
    t = r.deref(0)
    return r, r.scalar(t, 0, _u16), r.scalar(t, 1, _u64), r.scalar(t, 2, _u8), r.ref(t, 3)


def read_vector_reply(r, t):
    """The replies of a VectorReply as (type, value): Actions as _Reader.actions gives them,
    EpisodeStarted its id, Error (code, message), Ack None. Each entry's scalar(e, 0) and
    ref(e, 1) are written out (64 entries a frame)."""
    out = []
    buf, size, vtables = r.buf, r.size, r.vtables
    u32, i32 = _u32.unpack_from, _i32.unpack_from
    for e in r.tables(t, 0):
        if e < 0 or e >= size:
            raise IndexError("offset outside the frame")
        vt = e - i32(buf, e)[0]
        offsets = vtables.get(vt)
        if offsets is None:
            offsets = r._slots(e)
        k = len(offsets)
        f = offsets[0] if k > 0 else 0
        rt = _u8.unpack_from(buf, e + f)[0] if f else 0
        f = offsets[1] if k > 1 else 0
        if not f:
            raise IndexError("a VectorReply entry without a reply")
        body = e + f + u32(buf, e + f)[0]
        if body >= size:
            raise IndexError("offset beyond the frame")
        if rt == R_ACTIONS:
            out.append((rt, r.actions(body)))
        elif rt == R_STARTED:
            out.append((rt, r.text(body, 0)))
        elif rt == R_ERROR:
            out.append((rt, r.error(body)))
        else:
            out.append((rt, None))
    return out
