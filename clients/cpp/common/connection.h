// Connecting to the server (channel, stub, deadline, token) and describing a failed call.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "common/command_line.h"
#include "patchcore/edge/v1/inspection.grpc.pb.h"

namespace patchcore_client {

namespace pb = ::patchcore::edge::v1;

// How an example reaches the server: the stub, and what every call carries (deadline, token).
struct Connection {
  std::unique_ptr<pb::InspectionService::Stub> stub;
  // Time for each call in milliseconds; 0 = no deadline.
  std::uint64_t deadline_ms = 0;
  // Sent as `authorization: Bearer <token>` when not empty (servers with tokens require it).
  std::string token;

  // Sets the deadline and the authorization header on a call's context. Call once per call.
  void prepare(grpc::ClientContext& context) const;
};

// Connects as --target HOST:PORT (default 127.0.0.1:50051), --deadline-ms N (default `default_deadline_ms`)
// and --token T (default: the PATCHCORE_TOKEN environment variable) say. The channel is plain HTTP/2, as the
// server listens by default, or TLS with --ca-cert FILE and, for mutual TLS, --client-cert FILE --client-key
// FILE (defaults: PATCHCORE_CA_CERT, PATCHCORE_CLIENT_CERT, PATCHCORE_CLIENT_KEY); it accepts responses up to
// 64 MiB, the server's default cap. A certificate or key file that cannot be read throws InputError.
Connection connect(const CommandLine& command_line, std::uint64_t default_deadline_ms);

// `flags` plus the flags connect() reads.
std::vector<std::string> with_connection_flags(std::vector<std::string> flags);

// The usage lines of the flags connect() reads; `deadline_scope` says what the deadline covers ("each call").
std::string connection_flags_help(const std::string& deadline_scope, std::uint64_t default_deadline_ms);

// The name of a gRPC status code number, e.g. 5 -> "NOT_FOUND". Used for call statuses and frame errors.
std::string status_code_name(int code);

// "CODE: message" for a failed call.
std::string describe(const grpc::Status& status);

}  // namespace patchcore_client
