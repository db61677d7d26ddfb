// SPDX-License-Identifier: MIT
#include "core/tracing/sched_summary.h"

#include <algorithm>
#include <tuple>

namespace ht {

SchedSummary summarize_sched(const std::vector<CounterSample>& samples, uint32_t guest, uint64_t from_bucket,
                             uint64_t to_bucket) {
    SchedSummary s;
    std::map<uint64_t, uint64_t> by_sub;  // sched_preempted's sub -> count
    for (const auto& c : samples) {
        if (c.guest != guest || c.bucket < from_bucket || c.bucket > to_bucket) continue;
        switch (c.kind) {
        case CounterKind::sched_runq_ns: s.runq_ns += c.value; break;
        case CounterKind::sched_runq_log2:
            s.runq_log2[uint32_t(c.sub)] += c.value;
            s.waits += c.value;
            break;
        case CounterKind::sched_oncpu_ns: s.oncpu_ns += c.value; break;
        case CounterKind::sched_preempted:
            s.involuntary += c.value;
            by_sub[c.sub] += c.value;
            break;
        case CounterKind::sched_switch_vol: s.voluntary += c.value; break;
        case CounterKind::sched_migrate: s.migrations += c.value; break;
        default: break;
        }
    }
    for (const auto& [sub, n] : by_sub) {
        SchedPreemptor p = preemptor_of(sub);
        p.count = n;
        s.preemptors.push_back(p);
    }
    std::sort(s.preemptors.begin(), s.preemptors.end(), [](const SchedPreemptor& a, const SchedPreemptor& b) {
        return std::tuple(b.count, a.guest, a.tgid) < std::tuple(a.count, b.guest, b.tgid);
    });
    return s;
}

}  // namespace ht
