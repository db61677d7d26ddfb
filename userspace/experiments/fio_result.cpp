// SPDX-License-Identifier: MIT
#include "experiments/fio_result.h"

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

namespace ht {
namespace {

using nlohmann::json;

// o[key] as a number (0 when o is not an object, the key is absent or not a number).
double number(const json& o, const char* key) {
    if (!o.is_object()) return 0;
    auto it = o.find(key);
    return it != o.end() && it->is_number() ? it->get<double>() : 0;
}

// A completion-latency percentile in microseconds (fio gives nanoseconds, keyed "99.000000").
double pct(const json& side, const char* p) {
    if (!side.is_object()) return 0;
    auto clat = side.find("clat_ns");
    if (clat == side.end() || !clat->is_object()) return 0;
    auto pc = clat->find("percentile");
    return pc == clat->end() ? 0 : number(*pc, p) / 1e3;
}

void side(const json& job, const char* name, double& iops, double& bw, double& p50, double& p99) {
    auto it = job.find(name);
    if (it == job.end()) return;
    iops = number(*it, "iops");
    bw = number(*it, "bw");
    p50 = pct(*it, "50.000000");
    p99 = pct(*it, "99.000000");
}

}  // namespace

std::vector<FioJobResult> parse_fio_json(const std::string& text) {
    std::vector<FioJobResult> out;
    auto b = text.find('{');
    if (b == std::string::npos) return out;
    json j = json::parse(text.begin() + std::ptrdiff_t(b), text.end(), nullptr, false);
    if (j.is_discarded() || !j.is_object()) return out;
    auto jobs = j.find("jobs");
    if (jobs == j.end() || !jobs->is_array()) return out;
    for (const auto& job : *jobs) {
        if (!job.is_object()) continue;
        FioJobResult r;
        auto name = job.find("jobname");
        r.name = name != job.end() && name->is_string() ? name->get<std::string>() : "?";
        const double err = number(job, "error");
        r.error = std::isfinite(err) && std::fabs(err) < std::numeric_limits<int>::max() ? int(err) : 0;
        side(job, "read", r.read_iops, r.read_bw_kib, r.read_p50_us, r.read_p99_us);
        side(job, "write", r.write_iops, r.write_bw_kib, r.write_p50_us, r.write_p99_us);
        out.push_back(r);
    }
    return out;
}

}  // namespace ht
