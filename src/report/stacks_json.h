// A stack profile ("stacks" and "off_cpu" in the JSON report, docs/report-schema.json): to
// JSON as a whole, streamed table by table, and back.
#pragma once

#include <nlohmann/json.hpp>

#include "perfbpf/profile.h"
#include "report/json_reader.h"
#include "report/json_stream.h"

namespace perfbpf {

nlohmann::json stacks_json(const StackProfile& s);
// The same bytes as stacks_json(s) dumped at W's depth, one frame, stack or top entry at a time.
void write_stacks_json(JsonStreamWriter& w, const StackProfile& s);
// Throws JsonReader::Malformed.
StackProfile read_stacks(const JsonReader& r);

}  // namespace perfbpf
