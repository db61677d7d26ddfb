// SPDX-License-Identifier: MIT
// What the scheduler did to one guest's threads over a stretch of a run, from the sched source's
// in-kernel counters (CounterKind::sched_*, TracerOptions::sched): time waiting on a run queue
// (total and log2 histogram), time on a CPU, voluntary and involuntary switch-outs (these by who
// ran next) and migrations. Pure: no BPF, no /proc; naming a preemptor is the caller's business.
#pragma once
#include "core/tracing/trace_data.h"

#include <cstdint>
#include <map>
#include <vector>

namespace ht {

// Who ran next when a guest's thread was switched out still runnable (sched_preempted's sub).
struct SchedPreemptor {
    uint32_t guest = 0;  // its guest id; 0: a host process (or the idle task)
    uint32_t tgid = 0;   // its process; 0: the CPU's idle task
    uint64_t count = 0;  // involuntary switches to it
};

// sched_preempted's sub for a next task of `guest` and process `tgid`, and back (count 0).
constexpr uint64_t preemptor_sub(uint32_t guest, uint32_t tgid) { return (uint64_t(guest) << 32) | tgid; }
constexpr SchedPreemptor preemptor_of(uint64_t sub) { return {uint32_t(sub >> 32), uint32_t(sub), 0}; }

struct SchedSummary {
    uint64_t runq_ns = 0;                    // runnable (woken, or switched out still runnable) to switched in
    uint64_t waits = 0;                      // waits measured: the histogram's total
    std::map<uint32_t, uint64_t> runq_log2;  // floor(log2(wait ns)) -> waits
    uint64_t oncpu_ns = 0;                   // switched in to switched out
    uint64_t voluntary = 0;                  // switch-outs blocked (sleep, I/O, exit)
    uint64_t involuntary = 0;                // switch-outs still runnable (preempted)
    std::vector<SchedPreemptor> preemptors;  // involuntary switch-outs by who ran next: most first,
                                             // ties by guest, then tgid
    uint64_t migrations = 0;

    uint64_t switches() const { return voluntary + involuntary; }
    // runq_ns / waits, 0 without waits.
    double mean_runq_ns() const { return waits ? double(runq_ns) / double(waits) : 0.0; }
};

// The sched_* counters of `guest` in the buckets from_bucket to to_bucket, both included (the
// bucket of a window's start and that of its end; bucket = (ts - origin) / bucket width), over
// every phase. A wait or run is counted in the bucket where it ended. Other guests and kinds are
// ignored; from_bucket > to_bucket is an empty window.
SchedSummary summarize_sched(const std::vector<CounterSample>& samples, uint32_t guest, uint64_t from_bucket,
                             uint64_t to_bucket);

}  // namespace ht
