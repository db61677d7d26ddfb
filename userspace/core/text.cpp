// SPDX-License-Identifier: MIT
#include "core/text.h"

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

}  // namespace ht
