"""A fast path for the request frames of every step: FlatBuffers written front to back
directly with struct, for the episode requests (StartEpisode, GetAction, LogAction,
LogReturns, EndEpisode, VectorRequest) and ReportSamples; tandem/wire_reader.py reads their
replies. The flatbuffers package's Builder costs ~150 us a step here; this costs a few.
The bytes follow the FlatBuffers format (vtables,
forward uoffsets, aligned scalars, NUL-terminated strings), so the server's Verifier checks
them like any other frame; tests/python/test_codec.py holds them against the generated code.

Layout: each table is written right after its vtable (u16 vtable size, u16 table size, u16
field offsets); the table starts with an i32 soffset to the vtable; a reference field holds
a u32 offset to its target, always written after it; vectors of 8-byte scalars start
8-aligned.
"""
import struct

import numpy as np

_u8 = struct.Struct("<B")
_u16 = struct.Struct("<H")
_u32 = struct.Struct("<I")
_i32 = struct.Struct("<i")
_FMT = {"u8": (_u8, 1), "bool": (_u8, 1), "u16": (_u16, 2), "f32": (struct.Struct("<f"), 4),
        "i64": (struct.Struct("<q"), 8), "u64": (struct.Struct("<Q"), 8), "f64": (struct.Struct("<d"), 8)}
_F32 = np.dtype("<f4")
_I64 = np.dtype("<i8")

# Message / EpisodeRequest / EpisodeReply union members (schemas/tandem.fbs order).
MSG = {"StartEpisode": 1, "GetAction": 2, "LogAction": 3, "LogReturns": 4, "EndEpisode": 5, "VectorRequest": 16}
ER = {"StartEpisode": 1, "GetAction": 2, "LogAction": 3, "LogReturns": 4, "EndEpisode": 5}
M_STARTED, M_ACTIONS, M_ACK, M_ERROR, M_VREP = 9, 10, 11, 14, 17
R_STARTED, R_ACTIONS, R_ACK, R_ERROR = 1, 2, 3, 4  # EpisodeReply members


_LAYOUTS = {}


def _layout(nslots, sig, refs):
    """The fixed layout of a table kind: (vtable bytes, alignment, table size, scalar
    placements [(offset, Struct)], reference field offsets). sig: ((slot, fmt), ...)."""
    key = (nslots, sig, refs)
    lay = _LAYOUTS.get(key)
    if lay is None:
        fields = [(_FMT[f][1], slot, f) for slot, f in sig] + [(4, slot, None) for slot in refs]
        order = sorted(fields, key=lambda x: -x[0])
        offs = [0] * nslots
        off = 4
        big = order[0][0] if order and order[0][0] > 4 else 4
        for size, slot, _ in order:
            off += -off % size
            offs[slot] = off
            off += size
        off += -off % big
        vtable = struct.pack(f"<{2 + nslots}H", 4 + 2 * nslots, off, *offs)
        lay = (vtable, big, off, [(offs[slot], _FMT[f][0]) for slot, f in sig], [offs[slot] for slot in refs], key)
        _LAYOUTS[key] = lay
    return lay


class _Writer:
    __slots__ = ("b", "vtables", "patches")

    def __init__(self, header=True):
        self.b = bytearray(8 if header else 0)  # the root offset and the file identifier
        self.vtables = {}      # layout key -> position of its vtable in this frame (shared)
        self.patches = []      # (position, kind) of the values a cached subtree changes

    def pad(self, align, extra=0):
        n = -(len(self.b) + extra) % align
        if n:
            self.b += bytes(n)

    def table(self, nslots, sig=(), values=(), refs=()):
        """Writes a table of the layout (nslots, sig, refs) with the scalar values of sig.
        Returns (table start, positions of the reference fields in the order of refs)."""
        vtable, big, size, scalars, ref_offs, key = _layout(nslots, sig, refs)
        b = self.b
        vt = self.vtables.get(key)
        if vt is None:  # the first table of this layout in the frame writes the vtable
            if len(b) & 1:
                b += b"\0"
            vt = len(b)
            b += vtable
            self.vtables[key] = vt
        n = -len(b) % big
        if n:
            b += bytes(n)
        t = len(b)
        b += _i32.pack(t - vt) + bytes(size - 4)
        for (o, st), v in zip(scalars, values):
            st.pack_into(b, t + o, v)
        return t, [t + o for o in ref_offs]

    def ref(self, field_pos, target):
        _u32.pack_into(self.b, field_pos, target - field_pos)

    def string(self, field_pos, s):
        data = s.encode("utf-8")
        self.pad(4)
        self.ref(field_pos, len(self.b))
        self.b += _u32.pack(len(data)) + data + b"\0"

    def f32s(self, field_pos, arr, patch=False):
        a = np.ascontiguousarray(arr, dtype=_F32)
        self.pad(4)
        self.ref(field_pos, len(self.b))
        if patch:
            self.patches.append((len(self.b) + 4, "obs"))
        self.b += _u32.pack(a.size) + a.tobytes()

    def i64s(self, field_pos, arr):
        a = np.ascontiguousarray(arr, dtype=_I64)
        self.pad(8, 4)  # the elements start 8-aligned
        self.ref(field_pos, len(self.b))
        self.b += _u32.pack(a.size) + a.tobytes()

    def tables(self, field_pos, n):
        """A vector of n tables: the positions of its n offset slots (fill them with ref())."""
        self.pad(4)
        p = len(self.b)
        self.ref(field_pos, p)
        self.b += _u32.pack(n) + bytes(4 * n)
        return [p + 4 + 4 * i for i in range(n)]


_REWARD_SIG = ((1, "f32"), (2, "bool"))
_START_SIG = ((1, "bool"), (2, "bool"))
_END_SIG = ((2, "bool"),)
_METRIC_SIG = ((1, "f64"),)
_ENVELOPE_SIG = ((0, "u16"), (1, "u64"), (2, "u8"))
_ENTRY_SIG = ((0, "u8"),)


def _agent_obs(w, field_pos, agents):
    for slot, (agent_id, obs, mask) in zip(w.tables(field_pos, len(agents)), agents):
        has_mask = mask is not None and len(mask) > 0
        t, refs = w.table(4, (), (), (0, 1, 3) if has_mask else (0, 1))
        w.ref(slot, t)
        w.string(refs[0], agent_id)
        w.f32s(refs[1], obs, patch=True)
        if has_mask:
            w.f32s(refs[2], mask, patch=True)


def _request(w, kind, a):
    """Writes one episode request table; returns its start."""
    if kind == "GetAction":
        t, (e, ag) = w.table(2, (), (), (0, 1))
        w.string(e, a[0])
        _agent_obs(w, ag, a[1])
    elif kind == "LogReturns":
        t, (e, rw) = w.table(2, (), (), (0, 1))
        w.string(e, a[0])
        for slot, (agent_id, reward, done) in zip(w.tables(rw, len(a[1])), a[1]):
            rt, (aid,) = w.table(3, _REWARD_SIG, (float(reward), 1 if done else 0), (0,))
            w.patches.append((rt + _layout(3, _REWARD_SIG, (0,))[3][0][0], "reward"))
            w.ref(slot, rt)
            w.string(aid, agent_id)
    elif kind == "StartEpisode":
        t, (e,) = w.table(3, _START_SIG, (1 if a[1] else 0, 1 if a[2] else 0), (0,))
        w.string(e, a[0])
    elif kind == "LogAction":
        t, (e, ag, ac) = w.table(3, (), (), (0, 1, 2))
        w.string(e, a[0])
        _agent_obs(w, ag, a[1])
        for slot, (agent_id, d, c) in zip(w.tables(ac, len(a[2])), a[2]):
            refs_wanted = (0,) + ((1,) if len(d) else ()) + ((2,) if len(c) else ())
            at, refs = w.table(3, (), (), refs_wanted)
            w.ref(slot, at)
            w.string(refs[0], agent_id)
            k = 1
            if len(d):
                w.i64s(refs[k], d)
                k += 1
            if len(c):
                w.f32s(refs[k], c)
    elif kind == "EndEpisode":
        metrics = a[3]
        t, refs = w.table(4, _END_SIG, (1 if a[2] else 0,), (0, 1, 3) if metrics else (0, 1))
        w.string(refs[0], a[0])
        _agent_obs(w, refs[1], a[1])
        if metrics:
            for slot, (name, value) in zip(w.tables(refs[2], len(metrics)), metrics):
                mt, (n,) = w.table(2, _METRIC_SIG, (float(value),), (0,))
                w.ref(slot, mt)
                w.string(n, name)
    else:
        raise ValueError(f"{kind} has no fast encoding")
    return t


# Cached bytes: per-episode request subtrees (key: _key), VectorEntry subtrees (("entry",) +
# key) and whole frames (("frame"|"vframe", version) + key(s)), up to _CACHE_MAX entries, each
# at most _FRAME_CACHE_BYTES (large observations would fill memory first).
# Thread rules: shared by every client of the process; an entry is never changed once made,
# and adding, reading and clearing are single dict operations (atomic under the GIL); a clear()
# between two of them only means a frame is built again.
_CACHE = {}
_CACHE_MAX = 4096
_FRAME_CACHE_BYTES = 16384
_f32 = struct.Struct("<f")


def _key(kind, a):
    if kind == "GetAction":
        ag = a[1]
        if len(ag) == 1:
            i, o, m = ag[0]
            return (kind, a[0], i, len(o), -1 if m is None else len(m))
        return (kind, a[0], tuple((i, len(o), -1 if m is None else len(m)) for i, o, m in ag))
    if kind == "LogReturns":
        rw = a[1]
        if len(rw) == 1:
            return (kind, a[0], rw[0][0], bool(rw[0][2]))
        return (kind, a[0], tuple((i, bool(d)) for i, _, d in rw))
    return None


def _append_patched(w, kind, a, hit):
    """The cached bytes at the next 8-aligned position of w, this request's observations or
    rewards written over them in place; returns the table's start."""
    data, t, patches = hit
    b = w.b
    n = -len(b) % 8
    if n:
        b += _ZEROS[n]
    base = len(b)
    b += data
    _patch(b, base, kind, a, patches)
    return base + t


def _patch(b, base, kind, a, patches):
    """Writes the observations (and masks) or rewards of request `a` over the cached request
    at base of b."""
    if kind == "GetAction":
        k = 0
        for _, obs, mask in a[1]:
            p = base + patches[k][0]
            o = obs.tobytes() if obs.dtype == _F32 and obs.flags.c_contiguous else \
                np.ascontiguousarray(obs, dtype=_F32).tobytes()
            b[p:p + len(o)] = o
            k += 1
            if mask is not None and len(mask) > 0:
                p = base + patches[k][0]
                m = np.ascontiguousarray(mask, dtype=_F32).tobytes()
                b[p:p + len(m)] = m
                k += 1
    else:
        for (p, _), (_, reward, _) in zip(patches, a[1]):
            _f32.pack_into(b, base + p, float(reward))


_ZEROS = [bytes(i) for i in range(8)]


def _cached(w, key, kind, a, build):
    """Writes build(writer) -> table start at the next 8-aligned position of w. With a key (the
    requests of every step: GetAction, LogReturns) the bytes come from a cached copy of the same
    request (relative offsets and its own vtables make a subtree position independent), with
    its observations or rewards written over. Returns the table's start."""
    if key is None:
        return build(w)
    hit = _CACHE.get(key)
    if hit is None:
        sub = _Writer(header=False)
        t = build(sub)
        hit = (bytes(sub.b), t, sub.patches)
        if len(sub.b) > _FRAME_CACHE_BYTES:
            return _append_patched(w, kind, a, hit)  # too large to keep (large observations)
        if len(_CACHE) >= _CACHE_MAX:
            _CACHE.clear()
        _CACHE[key] = hit
    return _append_patched(w, kind, a, hit)


def _entry(w, kind, a):
    et, (rq,) = w.table(2, _ENTRY_SIG, (ER[kind],), (1,))
    w.ref(rq, _request(w, kind, a))
    return et


def _cached_request(w, kind, a):
    return _cached(w, _key(kind, a), kind, a, lambda x: _request(x, kind, a))


def _cached_entry(w, kind, a):
    """A VectorEntry with its request, cached as a whole."""
    key = _key(kind, a)
    if key is None:
        return _entry(w, kind, a)
    hit = _CACHE.get(("entry",) + key)
    if hit is None:
        return _cached(w, ("entry",) + key, kind, a, lambda x: _entry(x, kind, a))
    return _append_patched(w, kind, a, hit)


_REPORT_SIG = ((1, "i64"), (3, "i64"), (4, "bool"), (5, "bool"), (6, "bool"), (7, "f64"), (8, "i64"), (11, "i64"))
_FRAGMENT_SIG = ((8, "bool"), (9, "f32"))


def _report(w, r):
    """A ReportSamples table (tandem.local.Report) with its fragments."""
    refs = (0, 2) + ((9,) if r.agent_rewards else ()) + ((10,) if r.custom_metrics else ())
    t, pos = w.table(12, _REPORT_SIG, (int(r.weights_version), int(r.env_steps), 1 if r.training_enabled else 0,
                                       1 if r.explore else 0, 1 if r.episode_done else 0, float(r.episode_reward),
                                       int(r.episode_length), int(r.env_steps_before)), refs)
    w.string(pos[0], r.episode_id)
    for slot, f in zip(w.tables(pos[1], len(r.fragments)), r.fragments):
        ft, fr = w.table(10, _FRAGMENT_SIG, (1 if f.terminated else 0, float(f.bootstrap_value)), (0, 1, 2, 3, 4, 5, 6, 7))
        w.ref(slot, ft)
        w.string(fr[0], f.agent_id)
        w.f32s(fr[1], f.obs)
        w.i64s(fr[2], f.discrete)
        w.f32s(fr[3], f.continuous)
        w.f32s(fr[4], f.action_logp)
        w.f32s(fr[5], f.vf_preds)
        w.f32s(fr[6], f.dist_inputs)
        w.f32s(fr[7], f.rewards)
    k = 2
    if r.agent_rewards:
        for slot, (agent_id, reward, done) in zip(w.tables(pos[k], len(r.agent_rewards)), r.agent_rewards):
            rt, (aid,) = w.table(3, _REWARD_SIG, (float(reward), 1 if done else 0), (0,))
            w.ref(slot, rt)
            w.string(aid, agent_id)
        k += 1
    if r.custom_metrics:
        for slot, (name, value) in zip(w.tables(pos[k], len(r.custom_metrics)), r.custom_metrics):
            mt, (n,) = w.table(2, _METRIC_SIG, (float(value),), (0,))
            w.ref(slot, mt)
            w.string(n, name)
    return t


def encode_report(rid, report, version):
    w = _Writer()
    return _finish(w, rid, 8, version, lambda m: w.ref(m, _report(w, report)))


def _finish(w, rid, mtype, version, body):
    t, (m,) = w.table(4, _ENVELOPE_SIG, (version, rid, mtype), (3,))
    _u32.pack_into(w.b, 0, t)
    w.b[4:8] = b"TNDM"
    body(m)
    return bytes(w.b)


_RID_AT = _layout(4, _ENVELOPE_SIG, (3,))[3][1][0]  # the request id in the envelope table
_u64 = _FMT["u64"][0]


def encode(rid, kind, args, version):
    """One request frame. The frames of every step (GetAction, LogReturns) are cached whole by
    what fixes their layout: a copy with its request id and values written over."""
    key = _key(kind, args)
    if key is None:
        w = _Writer()
        return _finish(w, rid, MSG[kind], version, lambda m: w.ref(m, _cached_request(w, kind, args)))
    fkey = ("frame", version) + key
    hit = _CACHE.get(fkey)
    if hit is None:
        w = _Writer()
        base = []

        def body(m):
            base.append(len(w.b) + (-len(w.b) % 8))  # where _cached_request puts the request
            w.ref(m, _cached_request(w, kind, args))
        frame = _finish(w, rid, MSG[kind], version, body)
        sub = _CACHE.get(key)  # the request's own entry, just made or used (unless cleared since)
        if sub is not None:
            _keep_frame(fkey, frame, [(base[0], sub[2])])
        return frame
    frame, rid_at, ((base, patches),) = hit  # _patched_frame for one request, written out
    b = bytearray(frame)
    _u64.pack_into(b, rid_at, rid)
    _patch(b, base, kind, args, patches)
    return bytes(b)


def _keep_frame(fkey, frame, placed):
    """Caches a whole frame: its bytes, where its request id is, and each request's (start,
    patches) in placed."""
    if len(frame) <= _FRAME_CACHE_BYTES:
        if len(_CACHE) >= _CACHE_MAX:
            _CACHE.clear()
        _CACHE[fkey] = (frame, _u32.unpack_from(frame, 0)[0] + _RID_AT, placed)


def _patched_frame(hit, rid, requests):
    """A copy of a cached whole frame with rid and the values of requests [(kind, args, ...)]."""
    frame, rid_at, placed = hit
    b = bytearray(frame)
    _u64.pack_into(b, rid_at, rid)
    for (base, patches), r in zip(placed, requests):
        _patch(b, base, r[0], r[1], patches)
    return bytes(b)


_VFRAME_MAX_ENTRIES = 4  # larger steps change their episodes too often to be worth a whole copy


def encode_vector(rid, entries, version):
    """A VectorRequest frame. One of step requests only (GetAction, LogReturns: held rewards in
    front of a get_action, a vectorised step) is cached whole, as encode() does."""
    keys = tuple(_key(e[0], e[1]) for e in entries) if len(entries) <= _VFRAME_MAX_ENTRIES else (None,)
    fkey = ("vframe", version) + keys if None not in keys else None
    hit = _CACHE.get(fkey) if fkey is not None else None
    if hit is not None:
        return _patched_frame(hit, rid, entries)
    w = _Writer()
    bases = []

    def body(m):
        vt, (ev,) = w.table(1, (), (), (0,))
        w.ref(m, vt)
        slots = w.tables(ev, len(entries))
        for slot, e in zip(slots, entries):
            bases.append(len(w.b) + (-len(w.b) % 8))  # where a cached entry goes
            w.ref(slot, _cached_entry(w, e[0], e[1]))
    frame = _finish(w, rid, MSG["VectorRequest"], version, body)
    if fkey is not None:
        subs = [_CACHE.get(("entry",) + k) for k in keys]  # just made or used (unless cleared since)
        if None not in subs:
            _keep_frame(fkey, frame, [(base, sub[2]) for base, sub in zip(bases, subs)])
    return frame
