// Streams image files to InspectStream on one call and prints one line per frame as the results arrive.
//
// A writer (this thread) sends frame after frame while a reader thread prints the results, as a line program
// does with a camera feeding one side and the PLC reading the other. The server answers every frame in order;
// a frame it cannot score comes back with its own error and the stream goes on.
#include <cstdint>
#include <iostream>
#include <optional>
#include <string>
#include <thread>

#include "common/command_line.h"
#include "common/connection.h"
#include "common/files.h"
#include "common/results.h"

namespace {

using namespace patchcore_client;

const std::string kUsage =
    std::string("usage: inspect_stream [--target HOST:PORT] [--token T] --product ID [--deadline-ms N]\n"
                "                      [--ca-cert PEM [--client-cert PEM --client-key PEM]] FILE...\n"
                "\n"
                "Sends each FILE (JPEG/PNG/BMP/TIFF bytes) as one frame of a single InspectStream call,\n"
                "frame_id = its index (0, 1, ...), and prints one line per frame as the result arrives:\n") +
    kFrameLinesHelp + "\n  --product      product to inspect against\n" +
    connection_flags_help("the whole call", 0) +
    "\nExit status: 0 every frame scored (OK or NG), 1 a frame failed or the call did not finish OK,\n"
    "2 bad command line or unreadable file.\n";

// What the reader thread saw.
struct Tally {
  std::uint64_t received = 0;
  std::uint64_t failed = 0;
  bool in_order = true;
};

Tally print_results(grpc::ClientReaderWriter<pb::InspectRequest, pb::InspectResponse>& stream) {
  Tally tally;
  pb::InspectResponse response;
  while (stream.Read(&response)) {
    std::cout << format_result(response) << '\n' << std::flush;
    tally.in_order = tally.in_order && response.frame_id() == tally.received;
    tally.failed += response.has_error() ? 1 : 0;
    ++tally.received;
  }
  return tally;
}

int inspect_stream(const CommandLine& command_line) {
  const std::string product = command_line.required("product");
  const Connection server = connect(command_line, 0);
  const auto& files = command_line.required_files();

  grpc::ClientContext context;
  server.prepare(context);
  const auto stream = server.stub->InspectStream(&context);

  Tally tally;
  std::thread reader([&] { tally = print_results(*stream); });

  std::uint64_t sent = 0;
  std::optional<std::string> input_error;
  for (; sent < files.size(); ++sent) {
    pb::InspectRequest request;
    request.set_product_id(product);
    request.set_frame_id(sent);
    try {
      request.mutable_image()->set_encoded(read_file(files[sent]));
    } catch (const InputError& error) {
      input_error = error.what();
      break;
    }
    if (!stream->Write(request)) {
      break;  // the call has ended; Finish() says why
    }
  }
  stream->WritesDone();
  reader.join();
  const grpc::Status status = stream->Finish();

  if (input_error) {
    std::cerr << "error: " << *input_error << " (stopped after " << sent << " frames)\n";
    return kExitUsage;
  }
  if (!status.ok()) {
    std::cerr << "error: the stream ended with " << describe(status) << "\n";
    return kExitFailed;
  }
  if (tally.received != sent || !tally.in_order) {
    std::cerr << "error: sent " << sent << " frames, got " << tally.received << " results"
              << (tally.in_order ? "" : " out of order") << "\n";
    return kExitFailed;
  }
  std::cerr << sent << " frames, " << tally.failed << " failed\n";
  return tally.failed == 0 ? kExitOk : kExitFailed;
}

}  // namespace

int main(int argc, char** argv) {
  return run_example(argc, argv, kUsage, with_connection_flags({"product"}), inspect_stream);
}
