"""The fast codec (tandem/fastwire.py, wire_reader.py, reply_shapes.py) against the FlatBuffers package's generated code, both
ways, and against corrupt frames. (The real server verifies the fast frames in every other test.)"""
import random
import struct

import flatbuffers
import numpy as np
import pytest

from tandem import codec, fastwire, reply_shapes
from tandem.errors import ProtocolError
from tandem.wire.fb import (Ack, Actions, EndEpisode, Envelope, EpisodeStarted, Error, GetAction, SamplesAccepted, LogAction,
                            LogReturns, StartEpisode, VectorEntry, VectorReply, VectorReplyEntry, VectorRequest)
from tandem.wire.fb.EpisodeReply import EpisodeReply
from tandem.wire.fb.Message import Message

AGENTS = [("agent1", np.array([0.5, -1.25, 3e7], np.float32), None),
          ("ägent-2", np.array([1.0], np.float32), np.array([1, 0, 1], np.float32))]
REQUESTS = [
    ("StartEpisode", ("ep-1", True, False)),
    ("StartEpisode", ("ep-2", False, True)),
    ("GetAction", ("ep-1", AGENTS)),
    ("LogReturns", ("ep-1", [("agent1", 1.5, False), ("x", -2.0, True)])),
    ("LogAction", ("ep-1", AGENTS, [("agent1", np.array([2, 1 << 40], np.int64), np.zeros(0, np.float32)),
                                    ("ägent-2", np.zeros(0, np.int64), np.array([0.25], np.float32))])),
    ("EndEpisode", ("ep-1", AGENTS[:1], True, [("score", 2.5), ("n", -1.0)])),
    ("EndEpisode", ("ep-3", [], False, [])),
]


def read_request(kind, tab):
    """A request table as plain values, through the generated accessors."""
    def agents(m):
        return [(m.Agents(i).AgentId().decode(), m.Agents(i).ObsAsNumpy().tolist(),
                 m.Agents(i).ActionMaskAsNumpy().tolist() if m.Agents(i).ActionMaskLength() else None)
                for i in range(m.AgentsLength())]
    cls = {"StartEpisode": StartEpisode.StartEpisode, "GetAction": GetAction.GetAction,
           "LogReturns": LogReturns.LogReturns, "LogAction": LogAction.LogAction,
           "EndEpisode": EndEpisode.EndEpisode}[kind]
    m = cls()
    m.Init(tab.Bytes, tab.Pos)
    eid = m.EpisodeId().decode()
    if kind == "StartEpisode":
        return (eid, m.TrainingEnabled(), m.Explore())
    if kind == "GetAction":
        return (eid, agents(m))
    if kind == "LogReturns":
        return (eid, [(m.Rewards(i).AgentId().decode(), m.Rewards(i).Reward(), m.Rewards(i).Done())
                      for i in range(m.RewardsLength())])
    if kind == "LogAction":
        acts = [(m.Actions(i).AgentId().decode(), m.Actions(i).DiscreteAsNumpy().tolist() if m.Actions(i).DiscreteLength() else [],
                 m.Actions(i).ContinuousAsNumpy().tolist() if m.Actions(i).ContinuousLength() else [])
                for i in range(m.ActionsLength())]
        return (eid, agents(m), acts)
    return (eid, agents(m), m.Truncated(),
            [(m.CustomMetrics(i).Name().decode(), m.CustomMetrics(i).Value()) for i in range(m.CustomMetricsLength())])


def plain(kind, a):
    def ag(agents):
        return [(i, np.asarray(o, np.float32).tolist(), None if k is None else np.asarray(k, np.float32).tolist())
                for i, o, k in agents]
    if kind == "StartEpisode":
        return a
    if kind == "GetAction":
        return (a[0], ag(a[1]))
    if kind == "LogReturns":
        return (a[0], [(i, float(np.float32(r)), d) for i, r, d in a[1]])
    if kind == "LogAction":
        return (a[0], ag(a[1]), [(i, list(map(int, d)), np.asarray(c, np.float32).tolist()) for i, d, c in a[2]])
    return (a[0], ag(a[1]), a[2], list(a[3]))


@pytest.mark.parametrize("i", range(len(REQUESTS)))
def test_fast_requests_read_back_through_the_generated_code(i):
    kind, args = REQUESTS[i]
    for frame in (codec.encode(77, kind, args), codec.encode_with_builder(77, kind, args)):
        env = Envelope.Envelope.GetRootAs(frame, 0)
        assert env.Version() == codec.PROTOCOL_VERSION and env.RequestId() == 77
        assert env.MessageType() == getattr(Message, kind)
        assert read_request(kind, env.Message()) == plain(kind, args)


def test_a_fast_vector_request_reads_back_through_the_generated_code():
    frame = codec.encode_vector(2 ** 63 + 5, REQUESTS)
    env = Envelope.Envelope.GetRootAs(frame, 0)
    assert env.RequestId() == 2 ** 63 + 5 and env.MessageType() == Message.VectorRequest
    v = VectorRequest.VectorRequest()
    v.Init(env.Message().Bytes, env.Message().Pos)
    assert v.EntriesLength() == len(REQUESTS)
    names = {1: "StartEpisode", 2: "GetAction", 3: "LogAction", 4: "LogReturns", 5: "EndEpisode"}
    for k, (kind, args) in enumerate(REQUESTS):
        e = v.Entries(k)
        assert names[e.RequestType()] == kind
        assert read_request(kind, e.Request()) == plain(kind, args)


def vector_reply(b, parts):
    """A VectorReply table of [(reply type, reply table)] (the generated code)."""
    offs = []
    for rt, o in parts:
        VectorReplyEntry.Start(b)
        VectorReplyEntry.AddReplyType(b, rt)
        VectorReplyEntry.AddReply(b, o)
        offs.append(VectorReplyEntry.End(b))
    v = codec.vector_of_tables(b, VectorReply.StartRepliesVector, offs)
    VectorReply.Start(b)
    VectorReply.AddReplies(b, v)
    return VectorReply.End(b)


def build_reply(kind):
    b = flatbuffers.Builder(64)

    def actions():
        offs = [codec.agent_action_table(b, aid, d, c)
                for aid, d, c in [("agent1", [3], []), ("b", [1, 2], []), ("arm", [], [0.5, -0.25])]]
        v = codec.vector_of_tables(b, Actions.StartActionsVector, offs)
        Actions.Start(b)
        Actions.AddActions(b, v)
        Actions.AddPolicyVersion(b, 12345678901)
        return Actions.End(b)

    def error():
        s = b.CreateString("episode 'x' is not open")
        Error.Start(b)
        Error.AddCode(b, 4)
        Error.AddMessage(b, s)
        return Error.End(b)

    def started():
        s = b.CreateString("ep-9")
        EpisodeStarted.Start(b)
        EpisodeStarted.AddEpisodeId(b, s)
        return EpisodeStarted.End(b)

    if kind == "Actions":
        t, m = Message.Actions, actions()
    elif kind == "Error":
        t, m = Message.Error, error()
    elif kind == "EpisodeStarted":
        t, m = Message.EpisodeStarted, started()
    elif kind in ("SamplesAccepted", "SamplesAcceptedEmpty"):
        versions = [7, 1 << 40, 0] if kind == "SamplesAccepted" else []
        SamplesAccepted.StartPolicyVersionsVector(b, len(versions))
        for x in reversed(versions):
            b.PrependInt64(x)
        v = b.EndVector()
        SamplesAccepted.Start(b)
        SamplesAccepted.AddPolicyVersions(b, v)
        t, m = Message.SamplesAccepted, SamplesAccepted.End(b)
    else:
        parts = [(EpisodeReply.Actions, actions()), (EpisodeReply.Error, error()), (EpisodeReply.EpisodeStarted, started())]
        t, m = Message.VectorReply, vector_reply(b, parts)
    Envelope.Start(b)
    Envelope.AddVersion(b, codec.PROTOCOL_VERSION)
    Envelope.AddRequestId(b, 42)
    Envelope.AddMessageType(b, t)
    Envelope.AddMessage(b, m)
    b.Finish(Envelope.End(b), file_identifier=b"TNDM")
    return bytes(b.Output())


def same(a, b):
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and np.array_equal(a, b)
    if hasattr(a, "__dataclass_fields__"):
        return type(a) is type(b) and all(same(getattr(a, f), getattr(b, f)) for f in a.__dataclass_fields__)
    return a == b


@pytest.mark.parametrize("kind", ["Actions", "Error", "EpisodeStarted", "VectorReply", "SamplesAccepted",
                                  "SamplesAcceptedEmpty"])
def test_fast_reply_decoding_matches_the_generated_code(kind):
    frame = build_reply(kind)
    fast = codec.decode_reply(frame)
    slow = codec.decode_reply_with_accessors(frame)
    assert fast[0] == slow[0] == 42
    assert same(fast[1], slow[1]), (fast, slow)
    again = codec.decode_reply(bytearray(frame))  # a bytearray reads the same (cached agent ids are bytes)
    assert same(again[1], slow[1]), (again, slow)


def test_corrupt_reply_frames_are_protocol_errors_or_values_never_crashes():
    rng = random.Random(3)
    frames = [build_reply(k) for k in ("Actions", "Error", "EpisodeStarted", "VectorReply", "SamplesAccepted")]
    outcomes = {"error": 0, "value": 0}
    for _ in range(3000):
        f = bytearray(rng.choice(frames))
        for _ in range(rng.randint(1, 6)):
            f[rng.randrange(8, len(f))] = rng.randrange(256)
        if rng.random() < 0.3:
            f = f[:rng.randrange(8, len(f))]
        try:
            codec.decode_reply(bytes(f))
            outcomes["value"] += 1
        except ProtocolError:
            outcomes["error"] += 1
    assert outcomes["error"] > 100 and outcomes["value"] > 100, outcomes


def test_a_cached_step_request_carries_the_new_values():
    # The same episode, agents and sizes as an earlier frame: the cached bytes get the new
    # observations, masks and rewards (and a reused vtable never leaks into another frame).
    rng = np.random.default_rng(5)
    for _ in range(50):
        agents = [("agent1", rng.normal(size=3).astype(np.float32), None),
                  ("ägent-2", rng.normal(size=1).astype(np.float32), (rng.random(3) > 0.5).astype(np.float32))]
        rewards = [("agent1", float(rng.normal()), False), ("x", float(rng.normal()), True)]
        entries = [("LogReturns", ("ep-1", rewards)), ("GetAction", ("ep-1", agents)), ("StartEpisode", ("ep-2", True, True))]
        frame = codec.encode_vector(9, entries)
        env = Envelope.Envelope.GetRootAs(frame, 0)
        v = VectorRequest.VectorRequest()
        v.Init(env.Message().Bytes, env.Message().Pos)
        got = [read_request(k, v.Entries(i).Request()) for i, (k, _) in enumerate(entries)]
        assert got == [plain(k, a) for k, a in entries]
        for kind, args in (("GetAction", ("ep-1", agents)), ("LogReturns", ("ep-1", rewards))):
            rid = int(rng.integers(1, 1 << 62))  # a whole frame cached: its request id written over
            single = codec.encode(rid, kind, args)
            env = Envelope.Envelope.GetRootAs(single, 0)
            assert env.RequestId() == rid and env.MessageType() == getattr(Message, kind)
            assert read_request(kind, env.Message()) == plain(kind, args)


def test_a_fast_report_reads_back_through_the_generated_code():
    from tandem.local import FragmentValue, Report
    from tandem.wire.fb import ReportSamples
    rng = np.random.default_rng(2)
    frags = [FragmentValue("agent1", rng.normal(size=6).astype(np.float32), np.array([1, 0, 2], np.int64),
                           np.zeros(0, np.float32), rng.normal(size=3).astype(np.float32),
                           rng.normal(size=3).astype(np.float32), rng.normal(size=9).astype(np.float32),
                           np.array([1, 0, -1], np.float32), False, 0.25),
             FragmentValue("arm", rng.normal(size=2).astype(np.float32), np.zeros(0, np.int64),
                           np.array([0.5], np.float32), np.array([-1.0], np.float32), np.array([2.0], np.float32),
                           np.array([0.0, -0.5], np.float32), np.array([3.0], np.float32), True, 0.0)]
    r = Report("ep-7", 12, frags, 3, False, True, 40, True, 4.5, 43, [("agent1", 1.5, False), ("arm", 3.0, False)],
               [("score", 2.0)])
    for frame in (codec.encode(5, "ReportSamples", (r,)), codec.encode_with_builder(5, "ReportSamples", (r,))):
        env = Envelope.Envelope.GetRootAs(frame, 0)
        assert env.MessageType() == Message.ReportSamples and env.RequestId() == 5
        m = ReportSamples.ReportSamples()
        m.Init(env.Message().Bytes, env.Message().Pos)
        assert (m.EpisodeId().decode(), m.WeightsVersion(), m.EnvSteps(), m.TrainingEnabled(), m.Explore(),
                m.EnvStepsBefore(), m.EpisodeDone(), m.EpisodeReward(), m.EpisodeLength()) == \
            ("ep-7", 12, 3, False, True, 40, True, 4.5, 43)
        assert [(m.AgentRewards(i).AgentId().decode(), m.AgentRewards(i).Reward()) for i in range(m.AgentRewardsLength())] \
            == [("agent1", 1.5), ("arm", 3.0)]
        assert m.CustomMetrics(0).Name().decode() == "score" and m.CustomMetrics(0).Value() == 2.0
        assert m.FragmentsLength() == 2
        for i, f in enumerate(frags):
            g = m.Fragments(i)
            assert g.AgentId().decode() == f.agent_id and g.Terminated() == f.terminated
            assert g.BootstrapValue() == f.bootstrap_value
            for name in ("Obs", "Discrete", "Continuous", "ActionLogp", "VfPreds", "DistInputs", "Rewards"):
                want = getattr(f, {"Obs": "obs", "Discrete": "discrete", "Continuous": "continuous",
                                   "ActionLogp": "action_logp", "VfPreds": "vf_preds", "DistInputs": "dist_inputs",
                                   "Rewards": "rewards"}[name])
                got = getattr(g, name + "AsNumpy")() if getattr(g, name + "Length")() else np.zeros(0)
                assert np.array_equal(np.asarray(got), want), name


def _one_agent_actions(b, discrete, continuous, version, agent_id="default_agent"):
    offs = [codec.agent_action_table(b, agent_id, discrete, continuous)]
    v = codec.vector_of_tables(b, Actions.StartActionsVector, offs)
    Actions.Start(b)
    Actions.AddActions(b, v)
    if version:
        Actions.AddPolicyVersion(b, version)
    return Actions.End(b)


def lone_actions_reply(rid, discrete, continuous, version, agent_id="default_agent", held_acks=0):
    """An Actions reply for one agent, as the server builds it (the generated code); with
    held_acks, a VectorReply of that many Acks and then the Actions (rewards held in front of
    a get_action)."""
    b = flatbuffers.Builder(64)
    m = _one_agent_actions(b, discrete, continuous, version, agent_id)
    t = Message.Actions
    if held_acks:
        parts = []
        for _ in range(held_acks):
            Ack.Start(b)
            parts.append((EpisodeReply.Ack, Ack.End(b)))
        m, t = vector_reply(b, parts + [(EpisodeReply.Actions, m)]), Message.VectorReply
    Envelope.Start(b)
    Envelope.AddVersion(b, codec.PROTOCOL_VERSION)
    Envelope.AddRequestId(b, rid)
    Envelope.AddMessageType(b, t)
    Envelope.AddMessage(b, m)
    b.Finish(Envelope.End(b), file_identifier=b"TNDM")
    return bytes(b.Output())


@pytest.mark.parametrize("held_acks", [0, 1, 3], ids=["Actions", "VectorReply[Ack,Actions]", "VectorReply[3 Acks,Actions]"])
@pytest.mark.parametrize("discrete,continuous", [([1], []), ([], [0.5, -2.0]), ([3, 0, 7], []), ([2], [1.5])],
                         ids=["discrete", "box", "multi_discrete", "both"])
def test_a_reply_of_a_known_shape_reads_as_the_full_reader_reads_it(discrete, continuous, held_acks):
    reply_shapes.clear()
    rng = random.Random(7)
    first = lone_actions_reply(5, discrete, continuous, 3, held_acks=held_acks)
    assert reply_shapes.read(first) is None  # nothing learnt yet
    assert same(codec.decode_reply(first)[1], codec.decode_reply_with_accessors(first)[1])
    checked = 0
    for _ in range(200):
        rid, version = rng.randrange(1, 1 << 64), rng.randrange(1, 1 << 62)
        d = [rng.randrange(-(1 << 63), 1 << 63) for _ in discrete]
        c = [rng.uniform(-1e30, 1e30) for _ in continuous]
        f = lone_actions_reply(rid, d, c, version, held_acks=held_acks)
        if len(f) != len(first):
            continue
        assert reply_shapes.read(f) is not None  # the shortcut answers ...
        fast, slow = codec.decode_reply(f), codec.decode_reply_with_accessors(f)
        assert fast[0] == slow[0] == rid and same(fast[1], slow[1]), (fast, slow)  # ... as the full reader
        checked += 1
    assert checked == 200  # the values never change the layout


@pytest.mark.parametrize("held_acks", [0, 2], ids=["Actions", "VectorReply"])
def test_a_known_shape_answers_only_for_changed_scalars(held_acks):
    # Every byte of a learnt frame changed in turn: the shortcut reads the frame only when the
    # byte belongs to a scalar (request id, policy version, action values), where the generated
    # code reads the same values; any other byte sends the frame through the full reader.
    reply_shapes.clear()
    frame = lone_actions_reply(2 ** 40 + 3, [1], [0.25], 9, held_acks=held_acks)
    codec.decode_reply(frame)
    env = Envelope.Envelope.GetRootAs(frame, 0)
    a = Actions.Actions()
    if held_acks:
        v = VectorReply.VectorReply()
        v.Init(env.Message().Bytes, env.Message().Pos)
        last = v.Replies(held_acks).Reply()
        a.Init(last.Bytes, last.Pos)
    else:
        a.Init(env.Message().Bytes, env.Message().Pos)
    aa = a.Actions(0)
    scalars = set(range(env._tab.Offset(6) + env._tab.Pos, env._tab.Offset(6) + env._tab.Pos + 8))
    scalars |= set(range(a._tab.Offset(6) + a._tab.Pos, a._tab.Offset(6) + a._tab.Pos + 8))
    dpos = aa._tab.Vector(aa._tab.Offset(6))
    cpos = aa._tab.Vector(aa._tab.Offset(8))
    scalars |= set(range(dpos, dpos + 8)) | set(range(cpos, cpos + 4))
    answered = set()
    for i in range(len(frame)):
        for x in (1, 0x80, 0xff):
            reply_shapes.clear()  # the original's shape only (a full read may learn a mutant's)
            codec.decode_reply(frame)
            assert reply_shapes.read(frame) is not None
            f = bytearray(frame)
            f[i] ^= x
            f = bytes(f)
            if reply_shapes.read(f) is not None:
                answered.add(i)
                fast, slow = codec.decode_reply(f), codec.decode_reply_with_accessors(f)
                assert fast[0] == slow[0] and same(fast[1], slow[1])
            else:
                try:
                    codec.decode_reply(f)  # the full reader: a value or a ProtocolError
                except ProtocolError:
                    pass
    assert answered == scalars


def test_a_frame_whose_scalars_are_read_as_structure_is_never_read_by_shape():
    # A hostile frame: the envelope's vtable says the protocol version lies in the bytes of the
    # action's float. The full reader accepts it (the float's bytes happen to read as version
    # 2); its shape would make any other float a "valid" reply, so it is not kept.
    reply_shapes.clear()
    frame = bytearray(lone_actions_reply(77, [], [0.5], 3))
    env = Envelope.Envelope.GetRootAs(bytes(frame), 0)
    a = Actions.Actions()
    a.Init(env.Message().Bytes, env.Message().Pos)
    aa = a.Actions(0)
    cpos = aa._tab.Vector(aa._tab.Offset(8))
    vt = env._tab.Pos - struct.unpack_from("<i", frame, env._tab.Pos)[0]
    struct.pack_into("<H", frame, vt + 4, cpos - env._tab.Pos)      # field 0 (version) -> the float
    struct.pack_into("<f", frame, cpos, struct.unpack("<f", struct.pack("<HH", codec.PROTOCOL_VERSION, 0))[0])
    frame = bytes(frame)
    rid, reply = codec.decode_reply(frame)  # the full reader reads it ...
    assert rid == 77 and isinstance(reply, codec.ActionsReply)
    assert reply_shapes.read(frame) is None  # ... but keeps no shape of it
    other = bytearray(frame)
    struct.pack_into("<f", other, cpos, 1.0)
    with pytest.raises(ProtocolError, match="protocol version"):
        codec.decode_reply(bytes(other))


def test_a_cached_vector_request_carries_the_new_request_id_and_values(monkeypatch):
    # Rewards held in front of a get_action (the frame of every step of a simulator loop): the
    # whole VectorRequest is cached; each copy has its own request id, rewards and observations.
    fastwire._CACHE.clear()
    copies = []
    real = fastwire._patched_frame
    monkeypatch.setattr(fastwire, "_patched_frame", lambda *a: copies.append(1) or real(*a))
    rng = np.random.default_rng(11)
    for i in range(40):
        agents = [("agent1", rng.normal(size=3).astype(np.float32), (rng.random(2) > 0.5).astype(np.float32)),
                  ("b", rng.normal(size=2).astype(np.float32), None)]
        rewards = [("agent1", float(rng.normal()), bool(i % 2)), ("b", float(rng.normal()), False)]
        entries = [("LogReturns", ("ep-7", rewards)), ("GetAction", ("ep-7", agents))]
        rid = int(rng.integers(1, 1 << 63))
        frame = codec.encode_vector(rid, entries)
        env = Envelope.Envelope.GetRootAs(frame, 0)
        assert env.RequestId() == rid and env.MessageType() == Message.VectorRequest
        v = VectorRequest.VectorRequest()
        v.Init(env.Message().Bytes, env.Message().Pos)
        assert [read_request(k, v.Entries(j).Request()) for j, (k, _) in enumerate(entries)] == \
            [plain(k, a) for k, a in entries]
    assert len(copies) == 38  # all but the first frame of each layout (done alternates: 2 layouts)


def test_learning_pauses_when_shapes_are_not_used_again(monkeypatch):
    # Replies that never repeat their shape (here: 128 lengths of agent id, each seen once)
    # would pay a learning walk each; learning pauses after a window of 64 attempts that got
    # too few hits, even after a long run of hits.
    reply_shapes.clear()
    steady = lone_actions_reply(9, [1], [], 2)
    for _ in range(1000):
        codec.decode_reply(steady)
    for k in range(128):
        codec.decode_reply(lone_actions_reply(9, [1], [], 2, agent_id="a" * (k + 1)))
    frame = lone_actions_reply(9, [1], [], 2, agent_id="b" * 200)
    codec.decode_reply(frame)
    assert reply_shapes.read(frame) is None  # paused: read in full, not learnt
    assert same(codec.decode_reply(frame)[1], codec.decode_reply_with_accessors(frame)[1])
    reply_shapes.clear()
    codec.decode_reply(frame)
    assert reply_shapes.read(frame) is not None
    # Replies no shape can hold (two agents) are turned away by a cheap look, not a full walk.
    walks = []
    real = reply_shapes._describe
    monkeypatch.setattr(reply_shapes, "_describe", lambda b: walks.append(1) or real(b))
    two = build_reply("Actions")  # three agents
    for _ in range(10):
        codec.decode_reply(two)
    assert walks == []


def test_large_requests_are_built_each_time_not_cached():
    # A 20 KB observation: neither its subtree nor its whole frame is kept (a cache of 4,096
    # such frames would hold 80 MB), and every frame still carries its own values.
    fastwire._CACHE.clear()
    rng = np.random.default_rng(3)
    for rid in (1, 2):
        obs = rng.normal(size=5000).astype(np.float32)
        frame = codec.encode(rid, "GetAction", ("ep-big", [("a", obs, None)]))
        env = Envelope.Envelope.GetRootAs(frame, 0)
        assert env.RequestId() == rid
        assert read_request("GetAction", env.Message()) == plain("GetAction", ("ep-big", [("a", obs, None)]))
    assert all(len(v[0]) <= fastwire._FRAME_CACHE_BYTES for v in fastwire._CACHE.values())
    assert not any("ep-big" in k for k in fastwire._CACHE)
