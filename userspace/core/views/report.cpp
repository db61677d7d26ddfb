// SPDX-License-Identifier: MIT
#include "core/views/report.h"

#include <algorithm>
#include <cstdio>
#include <ctime>

namespace ht {

std::string fmt(const char* f, double v) {
    char buf[64];
    snprintf(buf, sizeof buf, f, v);
    return buf;
}

std::string fmt_size(uint64_t bytes) {
    const double mib = double(bytes) / (1 << 20);
    if (mib >= 10) return fmt("%.0f", mib) + " MiB";
    if (mib >= 1) return fmt("%.1f", mib) + " MiB";
    return fmt("%.0f", double(bytes) / 1024) + " KiB";
}

std::string loss_headline(const Losses& l) {
    if (!l.any()) return "";
    std::string s;
    auto part = [&](uint64_t n, const std::string& what) {
        if (n) s += (s.empty() ? "" : ", ") + std::to_string(n) + " " + what;
    };
    part(l.counts, "counter updates lost (a kernel map was full)");
    part(l.events, "events lost (the ring buffer was full)");
    part(l.tracked, "processes not followed (the tracked map was full)");
    return "INCOMPLETE COUNTS: " + s + "; the figures below that count them are too low\n";
}

nlohmann::json losses_json(const Losses& l) {
    return {{"counter_updates", l.counts}, {"events", l.events}, {"untracked_processes", l.tracked}, {"complete", !l.any()}};
}

std::string utc_now() {
    char buf[32];
    time_t t = time(nullptr);
    tm tmv{};
    gmtime_r(&t, &tmv);
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tmv);
    return buf;
}

std::string render_table(const std::vector<std::vector<std::string>>& rows, const std::vector<bool>& right) {
    std::vector<std::size_t> w;
    for (const auto& r : rows)
        for (std::size_t i = 0; i < r.size(); ++i) {
            if (w.size() <= i) w.push_back(0);
            w[i] = std::max(w[i], r[i].size());
        }
    std::string out;
    for (const auto& r : rows) {
        std::string line = "  ";
        for (std::size_t i = 0; i < r.size(); ++i) {
            std::string pad(w[i] - r[i].size(), ' ');
            bool ra = i < right.size() && right[i];
            line += (ra ? pad + r[i] : r[i] + (i + 1 < r.size() ? pad : "")) + (i + 1 < r.size() ? "  " : "");
        }
        while (!line.empty() && line.back() == ' ') line.pop_back();
        out += line + "\n";
    }
    return out;
}

std::string host_line(const HostInfo& h) {
    return "host: " + h.hostname + ", " + h.os + ", Linux " + h.kernel + " " + h.arch + ", " + h.cpu_model + " x" +
           std::to_string(h.cpus) + ", " + fmt("%.1f", double(h.memory_kb) / 1048576.0) + " GiB";
}

nlohmann::json host_json(const HostInfo& h) {
    return {{"hostname", h.hostname},
            {"kernel", h.kernel},
            {"arch", h.arch},
            {"os", h.os},
            {"cpu", h.cpu_model},
            {"cpus", h.cpus},
            {"memory_mb", h.memory_kb / 1024},
            {"virt_extensions", h.virt_flag.empty() ? nlohmann::json(nullptr) : nlohmann::json(h.virt_flag)},
            {"kvm_device", h.kvm_device}};
}

nlohmann::json sources_json(const std::vector<SourceStatus>& sources) {
    nlohmann::json a = nlohmann::json::array();
    for (const auto& s : sources)
        a.push_back({{"name", s.name}, {"attach", s.attach}, {"attached", s.attached}, {"note", s.note}});
    return a;
}

}  // namespace ht
