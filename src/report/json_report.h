// The JSON report (schema "perfbpf.report/1", documented in docs/report-schema.json): Profile
// to JSON and back, and writing it so that a failure never leaves a truncated file behind.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "perfbpf/profile.h"

namespace perfbpf {

nlohmann::json to_json(const Profile& profile);
// Throws Error naming the JSON path of the first missing or mistyped field.
Profile profile_from_json(const nlohmann::json& report);

// The calibration part on its own: reports embed it, the calibration cache stores it.
nlohmann::json calibration_to_json(const CalibrationInfo& calibration);
CalibrationInfo calibration_from_json(const nlohmann::json& j);  // throws Error when malformed

// Writes through OutputFile (report/output_file.h: a temporary renamed into place, "-" for
// stdout); throws Error naming PATH, with a hint naming OPTION, when it cannot be written.
void write_json_report(const Profile& profile, const std::string& path, const std::string& option = "-o");
// Throws Error for a missing file, invalid JSON, a different schema or malformed content.
Profile read_json_report(const std::string& path);

}  // namespace perfbpf
