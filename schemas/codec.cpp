#include "schemas/codec.h"

#include <type_traits>

#include "core/overload.h"
#include "core/request_checks.h"
#include "core/weight_tensors.h"
#include "schemas/message_codec.h"

namespace tandem::wire {

static_assert(static_cast<uint16_t>(core::ErrorCode::Internal) ==
              static_cast<uint16_t>(fb::ErrorCode::Internal));
static_assert(static_cast<uint16_t>(core::ErrorCode::BadRequest) ==
              static_cast<uint16_t>(fb::ErrorCode::BadRequest));

namespace {

using detail::FBB;
using detail::get;
using detail::put;

// One builder per thread, reused: encoding allocates only the returned Frame.
FBB& builder() {
  thread_local FBB fbb(1024);
  fbb.Clear();
  return fbb;
}

Frame finish(FBB& fbb, uint64_t rid, fb::Message type, flatbuffers::Offset<void> msg) {
  auto env = fb::CreateEnvelope(fbb, kProtocolVersion, rid, type, msg);
  fbb.Finish(env, fb::EnvelopeIdentifier());
  return Frame(fbb.GetBufferPointer(), fbb.GetBufferPointer() + fbb.GetSize());
}

// The table type of an Offset, for the union traits.
template <class T>
T* table_of(flatbuffers::Offset<T>);
template <class O>
using Table = std::remove_pointer_t<decltype(table_of(std::declval<O>()))>;

// One message as an envelope's union member.
template <class M>
Frame finish_message(FBB& fbb, uint64_t rid, const M& m) {
  auto o = put(fbb, m);
  return finish(fbb, rid, fb::MessageTraits<Table<decltype(o)>>::enum_value, o.Union());
}

// The entries of a VectorRequest / VectorReply: each variant value as its union member in
// an entry table made by `entry(union_type, offset)`.
template <class Entry, class Items, class MakeEntry>
flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<Entry>>> put_entries(FBB& fbb, const Items& items,
                                                                                MakeEntry entry) {
  std::vector<flatbuffers::Offset<Entry>> offs;
  offs.reserve(items.size());
  for (const auto& it : items)
    offs.push_back(std::visit([&](const auto& m) { return entry(put(fbb, m)); }, it));
  return fbb.CreateVector(offs);
}

flatbuffers::Offset<fb::VectorRequest> put_vector(FBB& fbb, const core::VectorRequest& v) {
  return fb::CreateVectorRequest(fbb, put_entries<fb::VectorEntry>(fbb, v.entries, [&](auto o) {
                                   return fb::CreateVectorEntry(
                                       fbb, fb::EpisodeRequestTraits<Table<decltype(o)>>::enum_value, o.Union());
                                 }));
}

flatbuffers::Offset<fb::VectorReply> put_vector(FBB& fbb, const core::VectorReply& v) {
  return fb::CreateVectorReply(fbb, put_entries<fb::VectorReplyEntry>(fbb, v.replies, [&](auto o) {
                                 return fb::CreateVectorReplyEntry(
                                     fbb, fb::EpisodeReplyTraits<Table<decltype(o)>>::enum_value, o.Union());
                               }));
}

core::Status bad(core::ErrorCode c, std::string m) { return core::Status::error(c, std::move(m)); }

// A verified VectorRequest: every entry must carry a request.
core::Status get_vector(const fb::VectorRequest& v, core::VectorRequest& out) {
  if (!v.entries()) return {};
  // The bounds before anything is copied: tables may be shared, so a small frame could
  // otherwise decode into far more than its size.
  if (v.entries()->size() > core::kMaxEntriesPerVector)
    return bad(core::ErrorCode::BadRequest, "entries: " + std::to_string(v.entries()->size()) +
                                                " in one request, at most " + std::to_string(core::kMaxEntriesPerVector));
  size_t agents = 0;
  for (const auto* e : *v.entries()) {
    if (const auto* m = e->request_as_GetAction(); m && m->agents()) agents += m->agents()->size();
    if (const auto* m = e->request_as_LogAction(); m && m->agents()) agents += m->agents()->size();
    if (const auto* m = e->request_as_EndEpisode(); m && m->agents()) agents += m->agents()->size();
    if (const auto* m = e->request_as_LogReturns(); m && m->rewards()) agents += m->rewards()->size();
  }
  if (agents > core::kMaxAgentsPerVector)
    return bad(core::ErrorCode::BadRequest, "agents over all entries: " + std::to_string(agents) +
                                                " in one request, at most " + std::to_string(core::kMaxAgentsPerVector));
  out.entries.reserve(v.entries()->size());
  for (flatbuffers::uoffset_t i = 0; i < v.entries()->size(); ++i) {
    const auto* e = v.entries()->Get(i);
    if (!e->request()) return bad(core::ErrorCode::BadRequest, "entry " + std::to_string(i) + " is empty");
    switch (e->request_type()) {
      case fb::EpisodeRequest::StartEpisode: out.entries.emplace_back(get(*e->request_as_StartEpisode())); break;
      case fb::EpisodeRequest::GetAction: out.entries.emplace_back(get(*e->request_as_GetAction())); break;
      case fb::EpisodeRequest::LogAction: out.entries.emplace_back(get(*e->request_as_LogAction())); break;
      case fb::EpisodeRequest::LogReturns: out.entries.emplace_back(get(*e->request_as_LogReturns())); break;
      case fb::EpisodeRequest::EndEpisode: out.entries.emplace_back(get(*e->request_as_EndEpisode())); break;
      default:
        return bad(core::ErrorCode::BadRequest,
                   "entry " + std::to_string(i) + " of the VectorRequest carries no episode request");
    }
  }
  return {};
}

core::Status get_vector(const fb::VectorReply& v, core::VectorReply& out) {
  if (!v.replies()) return {};
  out.replies.reserve(v.replies()->size());
  for (const auto* e : *v.replies()) {
    if (!e->reply()) return bad(core::ErrorCode::BadFrame, "a VectorReply entry carries no reply");
    switch (e->reply_type()) {
      case fb::EpisodeReply::EpisodeStarted: out.replies.emplace_back(get(*e->reply_as_EpisodeStarted())); break;
      case fb::EpisodeReply::Actions: out.replies.emplace_back(get(*e->reply_as_Actions())); break;
      case fb::EpisodeReply::Ack: out.replies.emplace_back(core::Ack{}); break;
      case fb::EpisodeReply::Error: out.replies.emplace_back(get(*e->reply_as_Error())); break;
      default: return bad(core::ErrorCode::BadFrame, "a VectorReply entry is of an unknown type");
    }
  }
  return {};
}

// Size, identifier, structure, version, a message present. Null + status on failure.
const fb::Envelope* verify(std::span<const uint8_t> bytes, uint64_t& rid, core::Status& st) {
  auto fail = [&](core::ErrorCode c, std::string m) -> const fb::Envelope* {
    st = core::Status::error(c, std::move(m));
    return nullptr;
  };
  if (bytes.size() > kMaxFrameBytes)
    return fail(core::ErrorCode::BadFrame, "frame of " + std::to_string(bytes.size()) +
                                               " bytes exceeds the limit of " + std::to_string(kMaxFrameBytes));
  if (bytes.size() < 8 || !fb::EnvelopeBufferHasIdentifier(bytes.data()))
    return fail(core::ErrorCode::BadFrame, "not a Tandem frame (missing file identifier 'TNDM')");
  flatbuffers::Verifier verifier(bytes.data(), bytes.size(), /*max_depth=*/32, /*max_tables=*/1000000);
  if (!fb::VerifyEnvelopeBuffer(verifier))
    return fail(core::ErrorCode::BadFrame, "frame failed FlatBuffers verification");
  const auto* env = fb::GetEnvelope(bytes.data());
  rid = env->request_id();
  if (env->version() != kProtocolVersion)
    return fail(core::ErrorCode::UnsupportedVersion,
                "protocol version " + std::to_string(env->version()) + " is not supported (this peer speaks " +
                    std::to_string(kProtocolVersion) + ")");
  if (env->message_type() == fb::Message::NONE || env->message() == nullptr)
    return fail(core::ErrorCode::BadFrame, "envelope carries no message");
  return env;
}

}  // namespace

DecodedRequest decode_request(std::span<const uint8_t> bytes) {
  DecodedRequest d;
  const auto* env = verify(bytes, d.request_id, d.status);
  if (!env) return d;
  switch (env->message_type()) {
    case fb::Message::StartEpisode: d.request = get(*env->message_as_StartEpisode()); return d;
    case fb::Message::GetAction: d.request = get(*env->message_as_GetAction()); return d;
    case fb::Message::LogAction: d.request = get(*env->message_as_LogAction()); return d;
    case fb::Message::LogReturns: d.request = get(*env->message_as_LogReturns()); return d;
    case fb::Message::EndEpisode: d.request = get(*env->message_as_EndEpisode()); return d;
    case fb::Message::GetConfig: d.request = core::GetConfig{}; return d;
    case fb::Message::GetWeights: d.request = get(*env->message_as_GetWeights()); return d;
    case fb::Message::ReportSamples: d.request = get(*env->message_as_ReportSamples()); return d;
    case fb::Message::VectorRequest: {
      core::VectorRequest v;
      d.status = get_vector(*env->message_as_VectorRequest(), v);
      d.request = std::move(v);
      return d;
    }
    default: break;
  }
  const auto t = static_cast<unsigned>(env->message_type());
  const char* name = t <= static_cast<unsigned>(fb::Message::MAX) ? fb::EnumNameMessage(env->message_type()) : "";
  d.status = bad(core::ErrorCode::BadRequest,
                 name[0] ? std::string("message type '") + name + "' is a reply, not a request"
                         : "unknown message type " + std::to_string(t) + " (this server speaks protocol " +
                               std::to_string(kProtocolVersion) + ")");
  return d;
}

DecodedReply decode_reply(std::span<const uint8_t> bytes) {
  DecodedReply d;
  const auto* env = verify(bytes, d.request_id, d.status);
  if (!env) return d;
  switch (env->message_type()) {
    case fb::Message::EpisodeStarted: d.reply = get(*env->message_as_EpisodeStarted()); return d;
    case fb::Message::Actions: d.reply = get(*env->message_as_Actions()); return d;
    case fb::Message::Ack: d.reply = core::Ack{}; return d;
    case fb::Message::Config: d.reply = get(*env->message_as_Config()); return d;
    case fb::Message::Weights: d.reply = get(*env->message_as_Weights()); return d;
    case fb::Message::SamplesAccepted: d.reply = get(*env->message_as_SamplesAccepted()); return d;
    case fb::Message::Error: d.reply = get(*env->message_as_Error()); return d;
    case fb::Message::VectorReply: {
      core::VectorReply v;
      d.status = get_vector(*env->message_as_VectorReply(), v);
      d.reply = std::move(v);
      return d;
    }
    default: break;
  }
  d.status = bad(core::ErrorCode::BadFrame, "the frame is a request or of an unknown type, not a reply");
  return d;
}

Frame encode_request(uint64_t rid, const core::Request& request) {
  auto& fbb = builder();
  return std::visit(core::Overload{[&](const core::VectorRequest& v) {
                                     return finish(fbb, rid, fb::Message::VectorRequest, put_vector(fbb, v).Union());
                                   },
                                   [&](const auto& m) { return finish_message(fbb, rid, m); }},
                    request);
}

std::vector<Frame> encode_reply(uint64_t rid, const core::Reply& reply) {
  std::vector<Frame> out;
  if (const auto* w = std::get_if<core::Weights>(&reply)) {
    // Frames under the frame limit; the client puts the parts together (core::WeightAssembler).
    for (const auto& chunk : core::split_weights(*w, kWeightsChunkBytes / sizeof(float))) {
      auto& fbb = builder();
      out.push_back(finish(fbb, rid, fb::Message::Weights, detail::put(fbb, chunk).Union()));
    }
    return out;
  }
  auto& fbb = builder();
  out.push_back(std::visit(core::Overload{[&](const core::VectorReply& v) {
                                            return finish(fbb, rid, fb::Message::VectorReply,
                                                          put_vector(fbb, v).Union());
                                          },
                                          [](const core::Weights&) { return Frame{}; },  // handled above
                                          [&](const auto& m) { return finish_message(fbb, rid, m); }},
                           reply));
  return out;
}

Frame encode_reply_frame(uint64_t rid, const core::Reply& reply) {
  return std::move(encode_reply(rid, reply).front());
}

uint64_t fingerprint(std::span<const uint8_t> bytes) {
  // FNV-1a, 64 bit.
  uint64_t h = 1469598103934665603ull;
  for (uint8_t b : bytes) {
    h ^= b;
    h *= 1099511628211ull;
  }
  return h;
}

}  // namespace tandem::wire
