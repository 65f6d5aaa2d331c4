#include "common/files.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

namespace patchcore_client {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw InputError("cannot read " + path + ": " + std::strerror(errno));
  }
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) {
    throw InputError("cannot read " + path + ": read error");
  }
  return bytes;
}

}  // namespace patchcore_client
