#include "common/connection.h"

#include <array>
#include <chrono>

namespace patchcore_client {

namespace {
constexpr int kMaxReceiveBytes = 64 * 1024 * 1024;
}  // namespace

std::unique_ptr<pb::InspectionService::Stub> connect(const std::string& target) {
  grpc::ChannelArguments arguments;
  arguments.SetMaxReceiveMessageSize(kMaxReceiveBytes);
  const auto channel = grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), arguments);
  return pb::InspectionService::NewStub(channel);
}

std::string connection_flags_help(const std::string& deadline_scope, const std::string& deadline_default) {
  return std::string("  --target       server address (default ") + kDefaultTarget + ")\n" +
         "  --deadline-ms  time for " + deadline_scope + " in milliseconds (default " + deadline_default + ")\n";
}

void set_deadline(grpc::ClientContext& context, std::uint64_t deadline_ms) {
  if (deadline_ms > 0) {
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(deadline_ms));
  }
}

std::string status_code_name(int code) {
  static constexpr std::array<const char*, 17> kNames = {
      "OK",        "CANCELLED",         "UNKNOWN",          "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
      "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED",
      "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"};
  if (code >= 0 && code < static_cast<int>(kNames.size())) {
    return kNames[static_cast<std::size_t>(code)];
  }
  return "CODE_" + std::to_string(code);
}

std::string describe(const grpc::Status& status) {
  return status_code_name(status.error_code()) + ": " + status.error_message();
}

}  // namespace patchcore_client
