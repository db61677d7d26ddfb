// SPDX-License-Identifier: MIT
// Small text helpers shared by drivers and reports.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ht {

// Escapes &, <, >, ' and " for XML text and attribute values (libvirt domain XML, SVG).
std::string xml_escape(const std::string& s);

// Lowercase hexadecimal, "0x"-prefixed unless `prefix` is false (as /proc writes addresses).
std::string hex(uint64_t v, bool prefix = true);

// The last component of a path ("/usr/bin/qemu-system-x86_64" -> "qemu-system-x86_64").
std::string base_name(const std::string& path);

// The last non-empty line of `s`, without trailing newlines, carriage returns and spaces ("" if none):
// the one line of a tool's output that says what went wrong.
std::string last_line(const std::string& s);

// `s` cut at every `sep` into `out` (cleared first): "a;b;" -> {"a", "b", ""}. Views into `s`.
void split_into(std::string_view s, char sep, std::vector<std::string_view>& out);

}  // namespace ht
