// Teaches a product from image files of good parts with one unary Teach call and prints the new version.
#include <cstdint>
#include <iostream>
#include <limits>
#include <string>
#include <vector>

#include "common/command_line.h"
#include "common/connection.h"
#include "common/files.h"

namespace {

using namespace patchcore_client;

// Teaching 8 images takes seconds; a server busy with other teaches may queue this one.
constexpr std::uint64_t kDefaultDeadlineMs = 120000;

const std::string kUsage =
    std::string(
        "usage: teach [--target HOST:PORT] [--token T] --product ID [--tile-size N] [--deadline-ms N]\n"
        "             [--ca-cert PEM [--client-cert PEM --client-key PEM]] FILE...\n"
        "\n"
        "Teaches product ID from the image files (JPEG/PNG/BMP/TIFF) of good parts, 8 being the reference\n"
        "case. A product that exists gets a new version. Prints:\n"
        "  product <id> version <n> threshold <t> images <n> bank <patches> seconds <s>\n"
        "and on stderr a warning for each file that looks unlike the others (TeachStats.outlier_images).\n"
        "\n"
        "  --product      product id: 1 to 64 of a-z 0-9 . _ - starting with a letter or digit\n"
        "  --tile-size    cover each frame with N x N pixel tiles, each one model input, for high-resolution\n"
        "                 frames with small defects (default 0 = the whole frame as one input)\n") +
    connection_flags_help("the call", kDefaultDeadlineMs) +
    "\nExit status: 0 taught, 1 the server refused or failed, 2 bad command line or unreadable file.\n";

int teach(const CommandLine& command_line) {
  pb::TeachRequest request;
  request.set_product_id(command_line.required("product"));
  const std::uint64_t tile_size = command_line.unsigned_or("tile-size", 0, std::numeric_limits<std::uint32_t>::max());
  request.mutable_options()->set_tile_size(static_cast<std::uint32_t>(tile_size));
  const Connection server = connect(command_line, kDefaultDeadlineMs);
  const std::vector<std::string>& files = command_line.required_files();
  for (const std::string& file : files) {
    request.add_images()->set_encoded(read_file(file));
  }

  grpc::ClientContext context;
  server.prepare(context);
  pb::Product product;
  const grpc::Status status = server.stub->Teach(&context, request, &product);
  if (!status.ok()) {
    std::cerr << "error: Teach failed with " << describe(status) << "\n";
    return kExitFailed;
  }
  const pb::TeachStats& stats = product.teach_stats();
  std::cout << "product " << product.product_id() << " version " << product.version() << " threshold "
            << product.threshold() << " images " << stats.image_count() << " bank " << stats.bank_size()
            << " seconds " << stats.teach_seconds() << "\n";
  for (const std::uint32_t index : stats.outlier_images()) {
    std::cerr << "warning: " << files.at(index)
              << " looks unlike the other good images; if it is not a good part, teach again without it\n";
  }
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  return run_example(argc, argv, kUsage, with_connection_flags({"product", "tile-size"}), teach);
}
