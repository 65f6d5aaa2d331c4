// Inspects raw camera buffers with unary Inspect calls: the path a line program takes when its camera SDK hands
// out GRAY8 or BGR8 pixels and encoding them to JPEG/PNG would only cost time.
//
// Each FILE holds one tightly packed buffer of WIDTH x HEIGHT pixels (e.g. a frame dumped from the camera SDK,
// or `python -c "import cv2; cv2.imread('x.png').tofile('x.bgr')"`).
#include <cstdint>
#include <iostream>
#include <string>

#include "common/command_line.h"
#include "common/connection.h"
#include "common/files.h"
#include "common/results.h"

namespace {

using namespace patchcore_client;

// A frame takes tens of milliseconds; a late answer is worth nothing to a line that moves on.
constexpr std::uint64_t kDefaultDeadlineMs = 5000;

const std::string kUsage =
    std::string(
        "usage: inspect_raw [--target HOST:PORT] --product ID --width W --height H [--format gray8|bgr8|rgb8]\n"
        "                   [--deadline-ms N] [--token T] [--ca-cert PEM [--client-cert PEM --client-key PEM]]\n"
        "                   FILE...\n"
        "\n"
        "Sends each FILE, a raw buffer of W x H pixels, rows top to bottom without padding, as a RawImage in\n"
        "one unary Inspect call per file (frame_id = its index) and prints one line per frame:\n") +
    kFrameLinesHelp +
    "\n"
    "  --product      product to inspect against\n"
    "  --width        frame width in pixels\n"
    "  --height       frame height in pixels\n"
    "  --format       gray8 (1 byte/pixel), bgr8 or rgb8 (3 bytes/pixel); default bgr8\n" +
    connection_flags_help("each call", kDefaultDeadlineMs) +
    "\nExit status: 0 every frame scored (OK or NG), 1 a frame failed, 2 bad command line or unreadable file.\n";

pb::PixelFormat parse_pixel_format(const std::string& name) {
  if (name == "gray8") return pb::PIXEL_FORMAT_GRAY8;
  if (name == "bgr8") return pb::PIXEL_FORMAT_BGR8;
  if (name == "rgb8") return pb::PIXEL_FORMAT_RGB8;
  throw UsageError("--format must be gray8, bgr8 or rgb8, got '" + name + "'");
}

std::uint32_t required_dimension(const CommandLine& command_line, const std::string& name) {
  const std::uint64_t value = command_line.unsigned_or(name, 0);
  if (value == 0 || value > UINT32_MAX) {
    throw UsageError("--" + name + " must be given as a number of pixels, 1 or more");
  }
  return static_cast<std::uint32_t>(value);
}

// A failed call becomes a frame error, so every frame prints the same way.
pb::InspectResponse inspect(const Connection& server, const pb::InspectRequest& request) {
  grpc::ClientContext context;
  server.prepare(context);
  pb::InspectResponse response;
  const grpc::Status status = server.stub->Inspect(&context, request, &response);
  if (!status.ok()) {
    response.Clear();
    response.set_frame_id(request.frame_id());
    response.mutable_error()->set_code(status.error_code());
    response.mutable_error()->set_message(status.error_message());
  }
  return response;
}

int inspect_raw(const CommandLine& command_line) {
  pb::InspectRequest request;
  request.set_product_id(command_line.required("product"));
  pb::RawImage& raw = *request.mutable_image()->mutable_raw();
  raw.set_width(required_dimension(command_line, "width"));
  raw.set_height(required_dimension(command_line, "height"));
  raw.set_format(parse_pixel_format(command_line.value_or("format", "bgr8")));
  const Connection server = connect(command_line, kDefaultDeadlineMs);
  const auto& files = command_line.required_files();

  std::uint64_t failed = 0;
  for (std::uint64_t frame_id = 0; frame_id < files.size(); ++frame_id) {
    request.set_frame_id(frame_id);
    raw.set_pixels(read_file(files[frame_id]));
    const pb::InspectResponse response = inspect(server, request);
    std::cout << format_result(response) << '\n' << std::flush;
    failed += response.has_error() ? 1 : 0;
  }
  return failed == 0 ? kExitOk : kExitFailed;
}

}  // namespace

int main(int argc, char** argv) {
  return run_example(argc, argv, kUsage, with_connection_flags({"product", "width", "height", "format"}),
                     inspect_raw);
}
