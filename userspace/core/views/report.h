// SPDX-License-Identifier: MIT
// Pieces every experiment's report shares: number formatting, aligned text tables, the host and
// trace-source blocks of JSON results.
#pragma once
#include "core/host/host.h"
#include "core/tracing/trace_data.h"

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace ht {

// printf-style formatting of one number.
std::string fmt(const char* f, double v);
// A size with the precision it needs: "312 KiB", "3.4 MiB", "108 MiB".
std::string fmt_size(uint64_t bytes);
// Current UTC time, ISO 8601.
std::string utc_now();
// Left- or right-aligned columns (right[i] per column), two spaces apart, indented by two.
std::string render_table(const std::vector<std::vector<std::string>>& rows, const std::vector<bool>& right);
// "host: NAME, OS, Linux K ARCH, CPU xN, M GiB"
std::string host_line(const HostInfo& h);
nlohmann::json host_json(const HostInfo& h);
nlohmann::json sources_json(const std::vector<SourceStatus>& sources);

// The first line of a report whose counts are incomplete ("" when nothing was lost), so that no
// partial count is read as a whole one: what was lost, and which map or buffer was full.
std::string loss_headline(const Losses& l);
nlohmann::json losses_json(const Losses& l);

}  // namespace ht
