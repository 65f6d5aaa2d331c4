#include "common/connection.h"

#include <array>
#include <chrono>
#include <cstdlib>

#include "common/files.h"

namespace patchcore_client {

namespace {

constexpr int kMaxReceiveBytes = 64 * 1024 * 1024;
constexpr const char* kTargetFlag = "target";
constexpr const char* kDeadlineFlag = "deadline-ms";
constexpr const char* kTokenFlag = "token";
constexpr const char* kCaCertFlag = "ca-cert";
constexpr const char* kClientCertFlag = "client-cert";
constexpr const char* kClientKeyFlag = "client-key";
constexpr const char* kDefaultTarget = "127.0.0.1:50051";
constexpr const char* kTokenVariable = "PATCHCORE_TOKEN";
// The variables patchcore-client reads too, so one settings file serves both on a line PC.
constexpr const char* kCaCertVariable = "PATCHCORE_CA_CERT";
constexpr const char* kClientCertVariable = "PATCHCORE_CLIENT_CERT";
constexpr const char* kClientKeyVariable = "PATCHCORE_CLIENT_KEY";
// 100 years. now() + a deadline must fit the clock (int64 nanoseconds end in 2262): a larger one wrapped round
// into a deadline already passed.
constexpr std::uint64_t kMaxDeadlineMs = 100ULL * 365 * 24 * 60 * 60 * 1000;

std::string from_environment(const char* variable) {
  const char* value = std::getenv(variable);
  return value == nullptr ? "" : value;
}

// Plain HTTP/2 without --ca-cert or --client-cert; TLS otherwise (without --ca-cert: the system's roots), with
// this client's certificate for a server that requires mutual TLS.
std::shared_ptr<grpc::ChannelCredentials> channel_credentials(const CommandLine& command_line) {
  const std::string ca_cert = command_line.value_or(kCaCertFlag, from_environment(kCaCertVariable));
  const std::string client_cert = command_line.value_or(kClientCertFlag, from_environment(kClientCertVariable));
  const std::string client_key = command_line.value_or(kClientKeyFlag, from_environment(kClientKeyVariable));
  if (client_cert.empty() != client_key.empty()) {
    throw UsageError("give both --client-cert and --client-key, or neither");
  }
  if (ca_cert.empty() && client_cert.empty()) {
    return grpc::InsecureChannelCredentials();
  }
  grpc::SslCredentialsOptions options;
  if (!ca_cert.empty()) {
    options.pem_root_certs = read_file(ca_cert);
  }
  if (!client_cert.empty()) {
    options.pem_cert_chain = read_file(client_cert);
    options.pem_private_key = read_file(client_key);
  }
  return grpc::SslCredentials(options);
}

}  // namespace

void Connection::prepare(grpc::ClientContext& context) const {
  if (deadline_ms > 0) {
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(deadline_ms));
  }
  if (!token.empty()) {
    context.AddMetadata("authorization", "Bearer " + token);
  }
}

Connection connect(const CommandLine& command_line, std::uint64_t default_deadline_ms) {
  grpc::ChannelArguments arguments;
  arguments.SetMaxReceiveMessageSize(kMaxReceiveBytes);
  // Over every address the target names: ipv4:host:port,host:port or a DNS name with several addresses.
  arguments.SetLoadBalancingPolicyName("round_robin");
  // While a call is open, keepalive pings (the server allows one every 5 s): a server that froze ends the
  // stream with UNAVAILABLE (in about a minute) instead of leaving the program waiting for ever.
  arguments.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
  arguments.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  arguments.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);  // the default stops after 2 without data
  const auto channel = grpc::CreateCustomChannel(command_line.value_or(kTargetFlag, kDefaultTarget),
                                                 channel_credentials(command_line), arguments);
  Connection connection;
  connection.stub = pb::InspectionService::NewStub(channel);
  connection.deadline_ms = command_line.unsigned_or(kDeadlineFlag, default_deadline_ms, kMaxDeadlineMs);
  connection.token = command_line.value_or(kTokenFlag, from_environment(kTokenVariable));
  for (const char character : connection.token) {
    // A header value cannot hold control characters: gRPC would abort the program (and log the token).
    if (static_cast<unsigned char>(character) < 0x20 || character == 0x7f) {
      throw UsageError("the token holds a control character (a line end from a file saved on Windows?)");
    }
  }
  return connection;
}

std::vector<std::string> with_connection_flags(std::vector<std::string> flags) {
  flags.insert(flags.end(), {kTargetFlag, kDeadlineFlag, kTokenFlag, kCaCertFlag, kClientCertFlag, kClientKeyFlag});
  return flags;
}

std::string connection_flags_help(const std::string& deadline_scope, std::uint64_t default_deadline_ms) {
  const std::string deadline_default =
      default_deadline_ms == 0 ? "0 = none" : std::to_string(default_deadline_ms) + "; 0 = none";
  return std::string("  --target       server address (default ") + kDefaultTarget + "); several servers of a\n" +
         "                 fleet: ipv4:HOST:PORT,HOST:PORT or a DNS name, calls spread round robin\n" +
         "  --deadline-ms  time for " + deadline_scope + " in milliseconds (default " + deadline_default + ")\n" +
         "  --token        for a server that requires tokens (default $" + kTokenVariable + ")\n" +
         "  --ca-cert      PEM file of the CA that signed the server's certificate: connect with TLS\n" +
         "                 (default $" + kCaCertVariable + ")\n" +
         "  --client-cert  PEM certificate of this client, for a server requiring mutual TLS\n" +
         "                 (default $" + kClientCertVariable + ")\n" +
         "  --client-key   PEM private key of --client-cert (default $" + kClientKeyVariable + ")\n";
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
