// SPDX-License-Identifier: MIT
#include "core/text.h"

#include <cstdio>

namespace ht {

std::string xml_escape(const std::string& s) {
    std::string o;
    o.reserve(s.size());
    for (char c : s) {
        switch (c) {
        case '&': o += "&amp;"; break;
        case '<': o += "&lt;"; break;
        case '>': o += "&gt;"; break;
        case '\'': o += "&apos;"; break;
        case '"': o += "&quot;"; break;
        default: o += c;
        }
    }
    return o;
}

std::string hex(uint64_t v, bool prefix) {
    char b[32];
    snprintf(b, sizeof b, prefix ? "0x%llx" : "%llx", static_cast<unsigned long long>(v));
    return b;
}

}  // namespace ht
