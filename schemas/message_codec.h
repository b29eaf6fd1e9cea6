#pragma once
// One message table <-> its plain struct (schemas/ private: only the codec sees it). The
// envelope codec (codec.cpp) and the entries of vectorised frames use the same functions,
// so that a request means the same whether it comes alone or in a VectorRequest.
#include <flatbuffers/flatbuffers.h>

#include "core/messages.h"
#include "schemas/tandem_generated.h"

namespace tandem::wire::detail {

using FBB = flatbuffers::FlatBufferBuilder;

flatbuffers::Offset<fb::StartEpisode> put(FBB& fbb, const core::StartEpisode& m);
flatbuffers::Offset<fb::GetAction> put(FBB& fbb, const core::GetAction& m);
flatbuffers::Offset<fb::LogAction> put(FBB& fbb, const core::LogAction& m);
flatbuffers::Offset<fb::LogReturns> put(FBB& fbb, const core::LogReturns& m);
flatbuffers::Offset<fb::EndEpisode> put(FBB& fbb, const core::EndEpisode& m);
flatbuffers::Offset<fb::GetConfig> put(FBB& fbb, const core::GetConfig& m);
flatbuffers::Offset<fb::GetWeights> put(FBB& fbb, const core::GetWeights& m);
flatbuffers::Offset<fb::ReportSamples> put(FBB& fbb, const core::ReportSamples& m);
flatbuffers::Offset<fb::EpisodeStarted> put(FBB& fbb, const core::EpisodeStarted& m);
flatbuffers::Offset<fb::Actions> put(FBB& fbb, const core::Actions& m);
flatbuffers::Offset<fb::Ack> put(FBB& fbb, const core::Ack& m);
flatbuffers::Offset<fb::Config> put(FBB& fbb, const core::Config& m);
flatbuffers::Offset<fb::SamplesAccepted> put(FBB& fbb, const core::SamplesAccepted& m);
flatbuffers::Offset<fb::Weights> put(FBB& fbb, const core::Weights& m);
flatbuffers::Offset<fb::Error> put(FBB& fbb, const core::Error& m);

// The table is verified: every pointer read is in bounds. Empty agent ids become "agent0".
core::StartEpisode get(const fb::StartEpisode& m);
core::GetAction get(const fb::GetAction& m);
core::LogAction get(const fb::LogAction& m);
core::LogReturns get(const fb::LogReturns& m);
core::EndEpisode get(const fb::EndEpisode& m);
core::GetWeights get(const fb::GetWeights& m);
core::ReportSamples get(const fb::ReportSamples& m);
core::EpisodeStarted get(const fb::EpisodeStarted& m);
core::Actions get(const fb::Actions& m);
core::Config get(const fb::Config& m);
core::Weights get(const fb::Weights& m);
core::SamplesAccepted get(const fb::SamplesAccepted& m);
core::Error get(const fb::Error& m);

}  // namespace tandem::wire::detail
