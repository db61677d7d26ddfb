// SPDX-License-Identifier: MIT
// A trace directory as one timeline: Chrome trace-event JSON (Perfetto UI, chrome://tracing).
// One process group per guest (and one for the host's processes, one for the benchmark's own
// phases), one track per traced process with its lifetime as a slice, the benchmark's phases as
// slices, exec and phase marks as instants, and counters per time bucket: exits/s, faults/s,
// KSM merges/s and CPU (from the samples).
#pragma once
#include "core/tracing/trace_dir.h"

#include <nlohmann/json.hpp>

namespace ht {

nlohmann::json chrome_trace(const TraceData& t);

}  // namespace ht
