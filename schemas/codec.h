#pragma once
// The WebSocket codec: one binary frame = one FlatBuffers Envelope (tandem.fbs) <-> the plain
// Request / Reply structs of core/messages.h. This is the only code that touches FlatBuffers
// types. Every inbound frame is verified (size, identifier, structure, version) before a
// field is read; decoding copies into plain structs, so nothing points into the frame after.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/messages.h"
#include "core/status.h"

namespace tandem::wire {

inline constexpr uint16_t kProtocolVersion = 2;  // 2: Weights as named float32 tensors
inline constexpr size_t kMaxFrameBytes = 8u << 20;      // frames above this are refused
inline constexpr size_t kWeightsChunkBytes = 4u << 20;  // a Weights reply is split into frames of this size

using Frame = std::vector<uint8_t>;

struct DecodedRequest {
  uint64_t request_id = 0;  // best effort when decoding failed (for the Error reply)
  core::Status status;      // not ok: the frame is refused with this Error
  core::Request request;
};
// A verified request frame; a reply type or an unknown union member is refused (BadRequest).
// Empty agent ids become "agent0".
DecodedRequest decode_request(std::span<const uint8_t> bytes);

struct DecodedReply {
  uint64_t request_id = 0;
  core::Status status;      // not ok: the frame is not a valid reply
  core::Reply reply;        // one frame: Weights replies arrive as chunks, see core::Weights
};
DecodedReply decode_reply(std::span<const uint8_t> bytes);

Frame encode_request(uint64_t request_id, const core::Request& request);
// One frame, except a Weights reply whose tensors exceed kWeightsChunkBytes (several frames,
// core::split_weights).
std::vector<Frame> encode_reply(uint64_t request_id, const core::Reply& reply);
// Convenience: the first (usually only) frame of encode_reply.
Frame encode_reply_frame(uint64_t request_id, const core::Reply& reply);

// A 64-bit hash of a frame's bytes: a resent request is byte-identical to its original, so
// the server tells a resend from a different request that reuses the request id.
uint64_t fingerprint(std::span<const uint8_t> bytes);

}  // namespace tandem::wire
