// SPDX-License-Identifier: MIT
// What an experiment needs of a tracer, and nothing else: the seam between experiments and the
// BPF programs. `Tracer` (core/bpf_tracer.h) is the real one; unit tests put a fake in its place
// to run an experiment's orchestration (phases, timeouts, errors, cleanup on every path) without
// root or BPF.
#pragma once
#include "core/tracing/trace_data.h"

#include <cstdint>
#include <sys/types.h>
#include <vector>

namespace ht {

class TraceBackend {
public:
    virtual ~TraceBackend() = default;

    // Starts a run: clears what a previous run left, sets the bucket origin to `origin_ns`.
    virtual void begin_run(uint64_t origin_ns) = 0;
    // While armed, every process this process forks is tracked as `guest` (and so are its
    // descendants). Arm before starting a guest, disarm once it is started.
    virtual void arm_spawner(uint32_t guest) = 0;
    virtual void disarm_spawner() = 0;
    // Guests mark phases by writing a byte to `port` (an OUT seen by kvm:kvm_pio). 0: off.
    virtual void set_phase_port(uint16_t port) = 0;
    // Tracks an existing process (and its future descendants) as `guest`.
    virtual void track(pid_t tgid, uint32_t guest) = 0;

    // A descriptor that becomes readable when events wait (for poll()).
    virtual int events_fd() const = 0;
    // Consumes waiting records into the run's event list (timeout_ms 0: non-blocking).
    virtual void poll_events(int timeout_ms = 0) = 0;
    // KSM full scans seen since the last call (consumes them; poll_events() first).
    virtual std::vector<KsmScan> take_ksm_scans() = 0;
    // Takes the counters aggregated so far; tracking goes on.
    virtual std::vector<CounterSample> drain_counters() = 0;
    // Ends a run: disarms the spawner, drains events and counters (all guests), clears tracking.
    virtual RunTrace end_run() = 0;

    // Where every run's trace also goes as it ends (--trace), or null.
    virtual RunSink* sink() const = 0;
    // Which trace sources are attached, and how (for results).
    virtual const std::vector<SourceStatus>& sources() const = 0;
    virtual uint64_t bucket_ns() const = 0;
};

}  // namespace ht
