// SPDX-License-Identifier: MIT
#include "experiments/exit_counts.h"

#include "core/base/text.h"
#include "core/views/report.h"

#include <algorithm>

namespace ht {
namespace {

uint64_t sum(const std::map<uint64_t, uint64_t>& m) {
    uint64_t s = 0;
    for (auto [k, v] : m) s += v;
    return s;
}

}  // namespace

bool ExitCounts::add(const CounterSample& c) {
    switch (c.kind) {
    case CounterKind::kvm_pio: pio[c.sub] += c.value; break;
    case CounterKind::kvm_mmio: mmio[c.sub] += c.value; break;
    case CounterKind::kvm_user_exit: user_exits[c.sub] += c.value; break;
    case CounterKind::kvm_exit: kvm_exits[c.sub] += c.value; break;
    case CounterKind::kvm_exit_ns: kvm_exit_ns[c.sub] += c.value; break;
    case CounterKind::kvm_run: kvm_runs += c.value; break;
    case CounterKind::kvm_run_ns: kvm_run_ns += c.value; break;
    case CounterKind::kvm_run_entry_ns: kvm_run_entry_ns += c.value; break;
    case CounterKind::kvm_run_log2: run_log2[c.sub] += c.value; break;
    case CounterKind::kvm_run_min_ns: keep_min(kvm_run_min_ns, c.value); break;
    case CounterKind::kvm_run_max_ns: kvm_run_max_ns = std::max(kvm_run_max_ns, c.value); break;
    default: return false;
    }
    return true;
}

uint64_t ExitCounts::total_pio() const { return sum(pio); }
uint64_t ExitCounts::total_mmio() const { return sum(mmio); }
uint64_t ExitCounts::total_user_exits() const { return sum(user_exits); }
uint64_t ExitCounts::total_kvm_exits() const { return sum(kvm_exits); }

std::string kvm_run_time_line(const ExitCounts& c) {
    if (!c.kvm_runs) return "";
    auto us = [](double ns) { return ns >= 1e3 ? fmt(ns >= 1e4 ? "%.0f" : "%.1f", ns / 1e3) + "us" : fmt("%.0f", ns) + "ns"; };
    std::string s = std::to_string(c.kvm_runs) + " runs, min " + fmt("%.2f", double(c.kvm_run_min_ns) / 1e3) + " us, avg " +
                    fmt("%.2f", double(c.kvm_run_ns) / double(c.kvm_runs) / 1e3) + " us, max " +
                    fmt("%.2f", double(c.kvm_run_max_ns) / 1e3) + " us;";
    std::vector<std::pair<uint64_t, uint64_t>> b(c.run_log2.begin(), c.run_log2.end());
    std::sort(b.begin(), b.end(), [](auto& x, auto& y) { return x.second > y.second; });
    for (std::size_t i = 0; i < b.size() && i < 3; ++i)
        if (200 * b[i].second >= c.kvm_runs)  // 0.5 % and up
            s += " " + us(double(1ull << b[i].first)) + "-" + us(double(2ull << b[i].first)) + " " +
                 fmt("%.0f", 100.0 * double(b[i].second) / double(c.kvm_runs)) + "%";
    return s;
}

std::vector<std::vector<std::string>> exit_device_rows(const ExitCounts& c, const DeviceMap& mtree, double ops, int hidden_port) {
    std::vector<std::vector<std::string>> rows;
    const double n = std::max(1.0, ops);
    for (auto [k, v] : c.pio) {
        const uint64_t port = k & 0xffff;
        if (int(port) == hidden_port) continue;
        rows.push_back({(k >> 16) & 1 ? "pio out" : "pio in", hex(port), mtree.io_owner(port),
                        fmt("%.3f", double(v) / n), std::to_string(v)});
    }
    for (auto [k, v] : c.mmio) {
        const uint64_t gpa = k & 0x00ffffffffffffffULL;
        rows.push_back({(k >> 56) == 2 ? "mmio write" : "mmio read", hex(gpa), mtree.memory_owner(gpa),
                        fmt("%.3f", double(v) / n), std::to_string(v)});
    }
    return rows;
}

}  // namespace ht
