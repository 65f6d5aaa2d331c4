// Creating the channel and stub, deadlines, and describing a failed call.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "patchcore/edge/v1/inspection.grpc.pb.h"

namespace patchcore_client {

namespace pb = ::patchcore::edge::v1;

// Flag names every example accepts: --target HOST:PORT and --deadline-ms N.
inline constexpr const char* kTargetFlag = "target";
inline constexpr const char* kDeadlineFlag = "deadline-ms";
// The server's default address (make serve).
inline constexpr const char* kDefaultTarget = "127.0.0.1:50051";
// The usage lines of --target and --deadline-ms; `deadline_default` describes the default, e.g. "0 = none".
std::string connection_flags_help(const std::string& deadline_scope, const std::string& deadline_default);

// A stub on an insecure channel to `target` (HOST:PORT) that accepts responses up to 64 MiB (the server's
// default message cap; a PNG heatmap of a large frame can be several MiB).
std::unique_ptr<pb::InspectionService::Stub> connect(const std::string& target);

// Gives the call `deadline_ms` milliseconds from now to finish; 0 = no deadline.
void set_deadline(grpc::ClientContext& context, std::uint64_t deadline_ms);

// The name of a gRPC status code number, e.g. 5 -> "NOT_FOUND". Used for call statuses and frame errors.
std::string status_code_name(int code);

// "CODE: message" for a failed call.
std::string describe(const grpc::Status& status);

}  // namespace patchcore_client
