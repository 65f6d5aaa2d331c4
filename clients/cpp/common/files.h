// Reading input files (images to send, raw camera buffers) into memory.
#pragma once

#include <stdexcept>
#include <string>

namespace patchcore_client {

// An input file that cannot be read. The examples exit with kExitUsage on it.
class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The whole content of the file at `path`, as bytes. Throws InputError naming the file and the reason.
std::string read_file(const std::string& path);

}  // namespace patchcore_client
