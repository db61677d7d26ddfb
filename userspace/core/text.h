// SPDX-License-Identifier: MIT
// Small text helpers shared by drivers and reports.
#pragma once
#include <string>

namespace ht {

// Escapes &, <, >, ' and " for XML text and attribute values (libvirt domain XML, SVG).
std::string xml_escape(const std::string& s);

}  // namespace ht
