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

std::string base_name(const std::string& path) {
    auto slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

void split_into(std::string_view s, char sep, std::vector<std::string_view>& out) {
    out.clear();
    std::size_t a = 0;
    for (;;) {
        std::size_t t = s.find(sep, a);
        out.push_back(s.substr(a, t == std::string_view::npos ? std::string_view::npos : t - a));
        if (t == std::string_view::npos) return;
        a = t + 1;
    }
}

std::string hex(uint64_t v, bool prefix) {
    char b[32];
    snprintf(b, sizeof b, prefix ? "0x%llx" : "%llx", static_cast<unsigned long long>(v));
    return b;
}

std::string last_line(const std::string& s) {
    std::string t = s;
    while (!t.empty() && (t.back() == '\n' || t.back() == '\r' || t.back() == ' ')) t.pop_back();
    const auto nl = t.rfind('\n');
    return nl == std::string::npos ? t : t.substr(nl + 1);
}

}  // namespace ht
