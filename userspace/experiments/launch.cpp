// SPDX-License-Identifier: MIT
#include "experiments/launch.h"

#include "core/base/clock.h"
#include "core/host/interrupt.h"

namespace ht {

Launched launch_guest(TraceBackend* tracer, uint32_t trace_id, Guest& guest, const LaunchOptions& opt) {
    Launched l;
    {
        ArmedSpawner armed(tracer, trace_id);
        l.launch_ns = mono_ns();
        try {
            guest.start();
        } catch (...) {
            armed.disarm();
            if (opt.on_start_failure) opt.on_start_failure();
            throw;
        }
        l.started_ns = mono_ns();
    }
    if (tracer)
        for (pid_t p : guest.pids()) tracer->track(p, trace_id);
    if (!opt.watcher) return l;

    const uint64_t from = opt.timeout_from == LaunchOptions::From::launch ? l.launch_ns : l.started_ns;
    const uint64_t deadline = from + uint64_t(opt.timeout_s * 1e9);
    for (;;) {
        opt.watcher->poll();
        throw_if_interrupted();
        if (auto h = opt.watcher->hit(opt.milestone)) {
            l.outcome = Launched::Outcome::ready;
            l.ready_ns = h->ts_ns;
            return l;
        }
        const uint64_t now = mono_ns();
        if (!guest.alive()) {
            l.outcome = Launched::Outcome::died;
            l.last_output = guest.failure_hint();
            l.panic = guest.kernel_panic();
            return l;
        }
        if (now > deadline) {
            l.outcome = Launched::Outcome::timed_out;
            l.last_output = guest.failure_hint();
            return l;
        }
        if (opt.pause) opt.pause(deadline - now);
    }
}

}  // namespace ht
