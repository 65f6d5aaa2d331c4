#include "common/results.h"

#include <iomanip>
#include <sstream>

#include "common/connection.h"

namespace patchcore_client {

std::string format_result(const pb::InspectResponse& response) {
  std::ostringstream line;
  line << response.frame_id() << ' ';
  if (response.has_error()) {
    line << "- " << kVerdictError << ' ' << status_code_name(response.error().code()) << ": "
         << response.error().message();
  } else {
    line << std::fixed << std::setprecision(6) << response.score() << ' '
         << (response.anomalous() ? kVerdictNg : kVerdictOk);
  }
  return line.str();
}

}  // namespace patchcore_client
