// SPDX-License-Identifier: MIT
// Small text helpers shared by drivers and reports.
#pragma once
#include <cstdint>
#include <string>

namespace ht {

// Escapes &, <, >, ' and " for XML text and attribute values (libvirt domain XML, SVG).
std::string xml_escape(const std::string& s);

// Lowercase hexadecimal, "0x"-prefixed unless `prefix` is false (as /proc writes addresses).
std::string hex(uint64_t v, bool prefix = true);

}  // namespace ht
