// SPDX-License-Identifier: MIT
#include "core/base/setting.h"

namespace ht {

namespace {
constexpr std::string_view kOpen = "{setting:";
}

const char* setting_key(Setting s) {
    switch (s) {
    case Setting::accel: return "accel";
    case Setting::boot_timeout: return "boot_timeout";
    case Setting::timeout: return "timeout";
    case Setting::settle_timeout: return "settle_timeout";
    case Setting::trace: return "trace";
    case Setting::ksm: return "ksm";
    case Setting::pid: return "pid";
    case Setting::vs_guest: return "vs_guest";
    case Setting::no_host: return "no_host";
    case Setting::image_files: return "image_files";
    case Setting::images: return "images";
    case Setting::guests: return "guests";
    case Setting::verbose: return "verbose";
    case Setting::kvm_bios: return "kvm_bios";
    case Setting::list: return "list";
    case Setting::kvm: return "kvm";
    case Setting::lxc: return "lxc";
    case Setting::driver: return "driver";
    case Setting::run_timeout: return "run_timeout";
    case Setting::runs: return "runs";
    case Setting::max_time: return "max_time";
    case Setting::detail: return "detail";
    }
    return "?";
}

std::optional<Setting> setting_from_key(std::string_view key) {
    for (Setting s : kAllSettings)
        if (key == setting_key(s)) return s;
    return std::nullopt;
}

std::string ref(Setting s) { return std::string(kOpen) + setting_key(s) + "}"; }

std::string replace_settings(std::string_view text, const std::function<std::string(Setting)>& name) {
    std::string out;
    out.reserve(text.size());
    std::size_t i = 0;
    while (i < text.size()) {
        const std::size_t open = text.find(kOpen, i);
        if (open == std::string_view::npos) break;
        const std::size_t close = text.find('}', open + kOpen.size());
        if (close == std::string_view::npos) break;
        out.append(text.substr(i, open - i));
        const auto s = setting_from_key(text.substr(open + kOpen.size(), close - open - kOpen.size()));
        if (s) out += name(*s);
        else out.append(text.substr(open, close + 1 - open));
        i = close + 1;
    }
    out.append(text.substr(i));
    return out;
}

}  // namespace ht
