// SPDX-License-Identifier: MIT
// JSON to text for every result and trace file hypetrace writes. nlohmann's dump() throws on a
// string that is not valid UTF-8 (a process name the kernel cut mid-character, a path in another
// encoding), which would lose a whole run's result at its end; here such a string is stored with
// its bad bytes escaped (core/text's utf8_escape: "\xNN"), keys included, and nothing throws.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace ht {

// As j.dump(indent), with any string or key that is not UTF-8 escaped.
std::string dump_json(const nlohmann::json& j, int indent = -1);

// A copy of `j` with every string and key that is not UTF-8 escaped.
nlohmann::json utf8_escaped(const nlohmann::json& j);

}  // namespace ht
