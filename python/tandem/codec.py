"""The wire codec: Python values <-> one FlatBuffers ``Envelope`` per WebSocket frame.

The FlatBuffers classes are generated from ``schemas/tandem.fbs`` by the build (flatc
--python into ``build/python/tandem/wire/fb``); this module is the only one that uses them.
Requests are encoded from plain values; a reply frame is checked (size, file identifier,
protocol version) and decoded into the small classes below, copying what it keeps. Python
FlatBuffers has no verifier: any failure to read a frame becomes a ``ProtocolError``.
"""
from dataclasses import dataclass, field

import flatbuffers
import numpy as np

from tandem import fastwire, reply_shapes, wire_reader
from tandem.errors import ERROR_CODES, ProtocolError
from tandem.wire.fb import (Actions, AgentAction, AgentObs, AgentReward, Config, EndEpisode, Envelope,
                            EpisodeReply, EpisodeStarted, Error, Fragment, GetAction, GetConfig, GetWeights,
                            LogAction, LogReturns, Message, Metric, ReportSamples, SamplesAccepted,
                            StartEpisode, TensorPart, VectorEntry, VectorReply, VectorReplyEntry,
                            VectorRequest, Weights)
from tandem.wire.fb.EpisodeRequest import EpisodeRequest as _ER
from tandem.wire.fb.Message import Message as _M

PROTOCOL_VERSION = 2          # schemas/codec.h kProtocolVersion
MAX_FRAME_BYTES = 8 << 20     # the server refuses larger frames
_IDENT = b"TNDM"
_F32 = np.dtype("<f4")
_I64 = np.dtype("<i8")


# ---- replies, as Python values ----
@dataclass
class EpisodeStartedReply:
    episode_id: str


@dataclass
class AgentActionValue:
    agent_id: str
    discrete: tuple          # ints: Discrete 1 value, MultiDiscrete one per component
    continuous: tuple        # floats (Box), float32 values


@dataclass
class ActionsReply:
    actions: list
    policy_version: int


@dataclass
class AckReply:
    pass


@dataclass
class ConfigReply:
    json: str


@dataclass
class TensorPartValue:
    name: str
    shape: tuple
    offset: int
    data: np.ndarray


@dataclass
class WeightsReply:
    policy_id: str
    version: int
    chunk_index: int
    num_chunks: int
    tensors: list = field(default_factory=list)


@dataclass
class SamplesAcceptedReply:
    policy_versions: list


@dataclass
class ErrorReply:
    code: str
    message: str


@dataclass
class VectorReplyValue:
    replies: list


# ---- request pieces (plain values) ----
# agents: list of (agent_id, obs float32 array, mask float32 array or None)
# actions: list of (agent_id, discrete int64 array, continuous float32 array)
# rewards: list of (agent_id, reward, done)
# metrics: list of (name, value)


def _f32(b, x):
    return b.CreateNumpyVector(np.ascontiguousarray(x, dtype=_F32))


def _i64(b, x):
    return b.CreateNumpyVector(np.ascontiguousarray(x, dtype=_I64))


def vector_of_tables(b, start_vector, offsets):
    """A vector of already written tables (start_vector: the generated StartXVector)."""
    start_vector(b, len(offsets))
    for o in reversed(offsets):
        b.PrependUOffsetTRelative(o)
    return b.EndVector()


_vec_of = vector_of_tables


def _table_list(b, items, write, start_vector):
    """A vector of one table per item, each written by write(b, *item)."""
    return vector_of_tables(b, start_vector, [write(b, *item) for item in items])


def _agent_obs_table(b, agent_id, obs, mask):
    aid = b.CreateString(agent_id)
    ov = _f32(b, obs)
    mv = _f32(b, mask) if mask is not None and len(mask) else 0
    AgentObs.Start(b)
    AgentObs.AddAgentId(b, aid)
    AgentObs.AddObs(b, ov)
    if mv:
        AgentObs.AddActionMask(b, mv)
    return AgentObs.End(b)


def agent_action_table(b, agent_id, discrete, continuous):
    """One AgentAction table (empty parts left out)."""
    aid = b.CreateString(agent_id)
    dv = _i64(b, discrete) if len(discrete) else 0
    cv = _f32(b, continuous) if len(continuous) else 0
    AgentAction.Start(b)
    AgentAction.AddAgentId(b, aid)
    if dv:
        AgentAction.AddDiscrete(b, dv)
    if cv:
        AgentAction.AddContinuous(b, cv)
    return AgentAction.End(b)


def _agent_reward_table(b, agent_id, reward, done):
    aid = b.CreateString(agent_id)
    AgentReward.Start(b)
    AgentReward.AddAgentId(b, aid)
    AgentReward.AddReward(b, float(reward))
    if done:
        AgentReward.AddDone(b, True)
    return AgentReward.End(b)


def _metric_table(b, name, value):
    n = b.CreateString(name)
    Metric.Start(b)
    Metric.AddName(b, n)
    Metric.AddValue(b, float(value))
    return Metric.End(b)


def _agent_obs(b, agents):
    return _table_list(b, agents, _agent_obs_table, GetAction.StartAgentsVector)


def _agent_actions(b, actions):
    return _table_list(b, actions, agent_action_table, LogAction.StartActionsVector)


def _agent_rewards(b, rewards, start_vector):
    return _table_list(b, rewards, _agent_reward_table, start_vector)


def _metrics(b, metrics, start_vector):
    return _table_list(b, metrics, _metric_table, start_vector)


def _put(b, kind, a):
    """Writes one request table; returns (Message union type, offset)."""
    if kind == "GetAction":
        ep = b.CreateString(a[0])
        agents = _agent_obs(b, a[1])
        GetAction.Start(b)
        GetAction.AddEpisodeId(b, ep)
        GetAction.AddAgents(b, agents)
        return _M.GetAction, GetAction.End(b)
    if kind == "LogReturns":
        ep = b.CreateString(a[0])
        rewards = _agent_rewards(b, a[1], LogReturns.StartRewardsVector)
        LogReturns.Start(b)
        LogReturns.AddEpisodeId(b, ep)
        LogReturns.AddRewards(b, rewards)
        return _M.LogReturns, LogReturns.End(b)
    if kind == "StartEpisode":
        ep = b.CreateString(a[0])
        StartEpisode.Start(b)
        StartEpisode.AddEpisodeId(b, ep)
        StartEpisode.AddTrainingEnabled(b, bool(a[1]))
        StartEpisode.AddExplore(b, bool(a[2]))
        return _M.StartEpisode, StartEpisode.End(b)
    if kind == "LogAction":
        ep = b.CreateString(a[0])
        agents = _agent_obs(b, a[1])
        actions = _agent_actions(b, a[2])
        LogAction.Start(b)
        LogAction.AddEpisodeId(b, ep)
        LogAction.AddAgents(b, agents)
        LogAction.AddActions(b, actions)
        return _M.LogAction, LogAction.End(b)
    if kind == "EndEpisode":
        ep = b.CreateString(a[0])
        agents = _agent_obs(b, a[1])
        metrics = _metrics(b, a[3], EndEpisode.StartCustomMetricsVector) if a[3] else 0
        EndEpisode.Start(b)
        EndEpisode.AddEpisodeId(b, ep)
        EndEpisode.AddAgents(b, agents)
        EndEpisode.AddTruncated(b, bool(a[2]))
        if metrics:
            EndEpisode.AddCustomMetrics(b, metrics)
        return _M.EndEpisode, EndEpisode.End(b)
    if kind == "GetConfig":
        GetConfig.Start(b)
        return _M.GetConfig, GetConfig.End(b)
    if kind == "GetWeights":
        pid = b.CreateString(a[0])
        GetWeights.Start(b)
        GetWeights.AddPolicyId(b, pid)
        GetWeights.AddHaveVersion(b, int(a[1]))
        return _M.GetWeights, GetWeights.End(b)
    if kind == "ReportSamples":
        return _M.ReportSamples, _report(b, a[0])
    raise ValueError(f"unknown request kind {kind!r}")


def _report(b, r):
    frags = []
    for f in r.fragments:
        aid = b.CreateString(f.agent_id)
        obs = _f32(b, f.obs)
        disc = _i64(b, f.discrete)
        cont = _f32(b, f.continuous)
        logp = _f32(b, f.action_logp)
        vf = _f32(b, f.vf_preds)
        di = _f32(b, f.dist_inputs)
        rw = _f32(b, f.rewards)
        Fragment.Start(b)
        Fragment.AddAgentId(b, aid)
        Fragment.AddObs(b, obs)
        Fragment.AddDiscrete(b, disc)
        Fragment.AddContinuous(b, cont)
        Fragment.AddActionLogp(b, logp)
        Fragment.AddVfPreds(b, vf)
        Fragment.AddDistInputs(b, di)
        Fragment.AddRewards(b, rw)
        Fragment.AddTerminated(b, bool(f.terminated))
        Fragment.AddBootstrapValue(b, float(f.bootstrap_value))
        frags.append(Fragment.End(b))
    ep = b.CreateString(r.episode_id)
    fv = _vec_of(b, ReportSamples.StartFragmentsVector, frags)
    ar = _agent_rewards(b, r.agent_rewards, ReportSamples.StartAgentRewardsVector) if r.agent_rewards else 0
    cm = _metrics(b, r.custom_metrics, ReportSamples.StartCustomMetricsVector) if r.custom_metrics else 0
    ReportSamples.Start(b)
    ReportSamples.AddEpisodeId(b, ep)
    ReportSamples.AddWeightsVersion(b, int(r.weights_version))
    ReportSamples.AddFragments(b, fv)
    ReportSamples.AddEnvSteps(b, int(r.env_steps))
    ReportSamples.AddTrainingEnabled(b, bool(r.training_enabled))
    ReportSamples.AddExplore(b, bool(r.explore))
    ReportSamples.AddEpisodeDone(b, bool(r.episode_done))
    ReportSamples.AddEpisodeReward(b, float(r.episode_reward))
    ReportSamples.AddEpisodeLength(b, int(r.episode_length))
    ReportSamples.AddEnvStepsBefore(b, int(r.env_steps_before))
    if ar:
        ReportSamples.AddAgentRewards(b, ar)
    if cm:
        ReportSamples.AddCustomMetrics(b, cm)
    return ReportSamples.End(b)


_ENTRY_TYPE = {"StartEpisode": _ER.StartEpisode, "GetAction": _ER.GetAction, "LogAction": _ER.LogAction,
               "LogReturns": _ER.LogReturns, "EndEpisode": _ER.EndEpisode}


def _finish(b, rid, mtype, moff, version):
    Envelope.Start(b)
    Envelope.AddVersion(b, version)
    Envelope.AddRequestId(b, rid)
    Envelope.AddMessageType(b, mtype)
    Envelope.AddMessage(b, moff)
    b.Finish(Envelope.End(b), file_identifier=_IDENT)
    return bytes(b.Output())


def encode(rid, kind, args, version=PROTOCOL_VERSION):
    """One request frame: kind is the message name ("GetAction", ...), args its values."""
    if kind in fastwire.ER:
        return fastwire.encode(rid, kind, args, version)
    if kind == "ReportSamples":
        return fastwire.encode_report(rid, args[0], version)
    return encode_with_builder(rid, kind, args, version)


def encode_with_builder(rid, kind, args, version=PROTOCOL_VERSION):
    """encode() through the flatbuffers package's Builder (any request kind)."""
    b = flatbuffers.Builder(256)
    mtype, moff = _put(b, kind, args)
    return _finish(b, rid, mtype, moff, version)


def encode_vector(rid, entries):
    """A VectorRequest frame of (kind, args, ...) episode requests, applied in order (what
    follows args in an entry, such as its name, is not encoded)."""
    for e in entries:
        if e[0] not in _ENTRY_TYPE:
            raise ValueError(f"{e[0]} cannot be an entry of a vectorised call")
    return fastwire.encode_vector(rid, entries, PROTOCOL_VERSION)


def encode_vector_with_builder(rid, entries):
    b = flatbuffers.Builder(256 + 128 * len(entries))
    offs = []
    for kind, args in entries:
        if kind not in _ENTRY_TYPE:
            raise ValueError(f"{kind} cannot be an entry of a vectorised call")
        _, moff = _put(b, kind, args)
        VectorEntry.Start(b)
        VectorEntry.AddRequestType(b, _ENTRY_TYPE[kind])
        VectorEntry.AddRequest(b, moff)
        offs.append(VectorEntry.End(b))
    ev = _vec_of(b, VectorRequest.StartEntriesVector, offs)
    VectorRequest.Start(b)
    VectorRequest.AddEntries(b, ev)
    return _finish(b, rid, _M.VectorRequest, VectorRequest.End(b), PROTOCOL_VERSION)


# ---- decoding ----
def _text(s):
    return s.decode("utf-8", "replace") if s is not None else ""


def _as(cls, tab):
    x = cls()
    x.Init(tab.Bytes, tab.Pos)
    return x


def _actions(m):
    out = []
    for i in range(m.ActionsLength()):
        a = m.Actions(i)
        d = tuple(int(x) for x in a.DiscreteAsNumpy()) if a.DiscreteLength() else ()
        c = tuple(float(x) for x in a.ContinuousAsNumpy()) if a.ContinuousLength() else ()
        out.append(AgentActionValue(_text(a.AgentId()), d, c))
    return ActionsReply(out, m.PolicyVersion())


def _error(m):
    return _error_reply(m.Code(), _text(m.Message()))


def _weights(m):
    parts = []
    for i in range(m.TensorsLength()):
        t = m.Tensors(i)
        shape = tuple(int(x) for x in (t.ShapeAsNumpy() if t.ShapeLength() else ()))
        data = np.array(t.DataAsNumpy(), dtype=np.float32) if t.DataLength() else np.zeros(0, np.float32)
        parts.append(TensorPartValue(_text(t.Name()), shape, int(t.Offset()), data))
    return WeightsReply(_text(m.PolicyId()), m.Version(), m.ChunkIndex(), m.NumChunks(), parts)


def _episode_reply(t, tab):
    if t == EpisodeReply.EpisodeReply.EpisodeStarted:
        return EpisodeStartedReply(_text(_as(EpisodeStarted.EpisodeStarted, tab).EpisodeId()))
    if t == EpisodeReply.EpisodeReply.Actions:
        return _actions(_as(Actions.Actions, tab))
    if t == EpisodeReply.EpisodeReply.Ack:
        return AckReply()
    if t == EpisodeReply.EpisodeReply.Error:
        return _error(_as(Error.Error, tab))
    raise ProtocolError(f"a VectorReply entry of unknown type {t}")


def _error_reply(code, message):
    return ErrorReply(ERROR_CODES[code] if 0 <= code < len(ERROR_CODES) else "Internal", message)


def _actions_reply(v):
    return ActionsReply([AgentActionValue(a, d, c) for a, d, c in v[0]], v[1])


_ACK = AckReply()


def _step_reply(t, v):
    """The reply of an Actions (v as wire_reader._Reader.actions gives it) or VectorReply (v as
    wire_reader.read_vector_reply gives it) message."""
    if t == fastwire.M_ACTIONS:
        return _actions_reply(v)
    replies = []
    for rt, x in v:
        if rt == fastwire.R_ACTIONS:
            replies.append(_actions_reply(x))
        elif rt == fastwire.R_ACK:
            replies.append(_ACK)
        elif rt == fastwire.R_STARTED:
            replies.append(EpisodeStartedReply(x))
        elif rt == fastwire.R_ERROR:
            replies.append(_error_reply(*x))
        else:
            raise ProtocolError(f"a VectorReply entry of unknown type {rt}")
    return VectorReplyValue(replies)


def decode_reply(buf):
    """(request_id, reply) of one reply frame; ProtocolError for anything else."""
    if not isinstance(buf, (bytes, bytearray)):
        raise ProtocolError("the server sent a text frame, not a binary Tandem frame")
    if len(buf) > MAX_FRAME_BYTES:
        raise ProtocolError(f"frame of {len(buf)} bytes exceeds {MAX_FRAME_BYTES}")
    if len(buf) < 8 or buf[4:8] != _IDENT:
        raise ProtocolError("not a Tandem frame (missing file identifier 'TNDM')")
    try:
        known = reply_shapes.read(buf)  # a step's reply, as the last one of its shape
        if known is not None:
            return known[0], _step_reply(known[1], known[2])
        r, version, rid, t, m = wire_reader.read_envelope(buf)
        if version != PROTOCOL_VERSION:
            raise ProtocolError(f"protocol version {version} is not supported (this client speaks {PROTOCOL_VERSION})")
        if not m:
            raise ProtocolError("envelope carries no message")
        if t == fastwire.M_ACTIONS or t == fastwire.M_VREP:
            reply = _step_reply(t, r.actions(m) if t == fastwire.M_ACTIONS else wire_reader.read_vector_reply(r, m))
            reply_shapes.learn(buf, r, t, m)
            return rid, reply
        if t == fastwire.M_ACK:
            return rid, _ACK
        if t == fastwire.M_STARTED:
            return rid, EpisodeStartedReply(r.text(m, 0))
        if t == fastwire.M_ERROR:
            return rid, _error_reply(*r.error(m))
        if t == _M.SamplesAccepted:
            return rid, SamplesAcceptedReply(list(r.values(m, 0, "q", 8)))
        env = Envelope.Envelope.GetRootAs(buf, 0)
        tab = env.Message()
        if t == _M.Config:
            return rid, ConfigReply(_text(_as(Config.Config, tab).Json()))
        if t == _M.Weights:
            return rid, _weights(_as(Weights.Weights, tab))
        raise ProtocolError(f"the frame is a request or of an unknown type ({t}), not a reply")
    except ProtocolError:
        raise
    except Exception as e:  # a truncated or corrupt frame: reads past its end, bad offsets
        raise ProtocolError(f"the server sent a corrupt frame ({type(e).__name__}: {e})") from None


def decode_reply_with_accessors(buf):
    """decode_reply() through the generated accessors only (the cross-check of the fast path)."""
    env = Envelope.Envelope.GetRootAs(buf, 0)
    t, tab = env.MessageType(), env.Message()
    if t == _M.Actions:
        return env.RequestId(), _actions(_as(Actions.Actions, tab))
    if t == _M.VectorReply:
        v = _as(VectorReply.VectorReply, tab)
        return env.RequestId(), VectorReplyValue([_episode_reply(v.Replies(i).ReplyType(), v.Replies(i).Reply())
                                                  for i in range(v.RepliesLength())])
    if t == _M.Error:
        return env.RequestId(), _error(_as(Error.Error, tab))
    if t == _M.EpisodeStarted:
        return env.RequestId(), EpisodeStartedReply(_text(_as(EpisodeStarted.EpisodeStarted, tab).EpisodeId()))
    if t == _M.Ack:
        return env.RequestId(), AckReply()
    if t == _M.SamplesAccepted:
        sa = _as(SamplesAccepted.SamplesAccepted, tab)
        return env.RequestId(), SamplesAcceptedReply([int(sa.PolicyVersions(i)) for i in range(sa.PolicyVersionsLength())])
    raise ValueError(f"type {t}")
