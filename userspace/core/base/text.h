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
// Without leading and trailing blanks (spaces, tabs, CR, LF).
std::string trim(std::string_view s);

// The last non-empty line of `s`, without trailing newlines, carriage returns and spaces ("" if none):
// the one line of a tool's output that says what went wrong.
std::string last_line(const std::string& s);

// `s` cut at every `sep` into `out` (cleared first): "a;b;" -> {"a", "b", ""}. Views into `s`.
void split_into(std::string_view s, char sep, std::vector<std::string_view>& out);

// A value spliced into a QEMU option string ("file=VALUE,if=virtio"): QEMU splits options at commas
// and reads ",," as one literal comma, so every comma is doubled.
std::string qemu_opt_escape(const std::string& s);

// `s` as one word of a POSIX shell command line: in single quotes, each ' written '\'' (QEMU's
// "exec:" migration URIs are run by /bin/sh).
std::string shell_quote(const std::string& s);

// Whether `s` is well-formed UTF-8 (no overlong forms, surrogates or code points past U+10FFFF).
bool valid_utf8(std::string_view s);

// `s` with every byte that is not part of a well-formed UTF-8 sequence written as "\xNN" (a
// backslash, x, two hex digits), the rest as it is: a process name cut mid-character, a path in
// another encoding, kept legible and storable in JSON.
std::string utf8_escape(std::string_view s);

// utf8_escape, and control characters (newline, tab, DEL, ...) as "\xNN" too: user text quoted
// in a one-line message stays one line.
std::string visible(std::string_view s);

}  // namespace ht
