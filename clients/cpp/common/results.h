// The one-line-per-frame output every inspecting example prints.
#pragma once

#include <string>

#include "patchcore/edge/v1/inspection.pb.h"

namespace patchcore_client {

// Verdict words: OK = the frame looks like the taught good parts (score <= threshold), NG = anomalous
// ("no good"), ERROR = the server could not score this frame.
inline constexpr const char* kVerdictOk = "OK";
inline constexpr const char* kVerdictNg = "NG";
inline constexpr const char* kVerdictError = "ERROR";

// The usage text describing the per-frame lines.
inline constexpr const char* kFrameLinesHelp =
    "  <frame_id> <score> OK|NG              OK = like the taught good parts, NG = anomalous\n"
    "  <frame_id> - ERROR <CODE>: <message>  the server could not score this frame\n";

// "<frame_id> <score> OK|NG", score with 6 decimals; for a failed frame "<frame_id> - ERROR <CODE>: <message>".
std::string format_result(const ::patchcore::edge::v1::InspectResponse& response);

}  // namespace patchcore_client
