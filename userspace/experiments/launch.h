// SPDX-License-Identifier: MIT
// Launching one traced guest and waiting for it, the one way every experiment does it: the
// tracer's spawner armed around start() only (every process start() forks is the guest's, and
// nothing else is), disarmed on every path, start() throwing included; the guest's pids then
// tracked (backends whose processes are not our descendants: libvirtd starts QEMU); then, if
// asked, a wait for one milestone of the guest's console that ends as data (ready, timed out or
// died, with the guest's last output), never as an error: the caller words the error, and stops
// the guest, as its experiment does. Used by `startup` (one guest per run), `fleet` (guests
// launched together, waited for together) and `io` (a guest until it starts its job).
#pragma once
#include "core/host/console.h"
#include "core/tracing/trace_backend.h"
#include "drivers/guest.h"

#include <cstdint>
#include <functional>
#include <string>

namespace ht {

struct LaunchOptions {
    // The wait after the launch: none without a watcher (the guest is just launched).
    ConsoleWatcher* watcher = nullptr;  // the guest's
    std::string milestone = "ready";    // the hit that ends the wait
    double timeout_s = 0;               // how long the wait may take
    enum class From { launch, started };
    From timeout_from = From::launch;   // counted from just before start(), or from its return
    // Called between two checks, `left_ns` before the timeout: sleeps (polling whatever the caller
    // waits on) until something may have changed. Interruptions are checked by the wait itself.
    std::function<void(uint64_t left_ns)> pause;
    // Called when start() threw, once the spawner is disarmed, before the exception goes on.
    std::function<void()> on_start_failure;
};

struct Launched {
    enum class Outcome {
        started,    // no wait was asked for
        ready,      // the milestone was seen
        timed_out,  // not seen within timeout_s (the guest still runs: the caller stops it)
        died,       // the guest exited before it (or its kernel panicked: it never will be)
    };
    Outcome outcome = Outcome::started;
    uint64_t launch_ns = 0;   // just before start() (CLOCK_MONOTONIC)
    uint64_t started_ns = 0;  // when start() returned
    uint64_t ready_ns = 0;    // the milestone's time stamp (ready only)
    std::string last_output;  // timed_out, died: the guest's failure_hint() when it was found so
    std::string panic;        // died: its kernel_panic(), where that is why
    bool ready() const { return outcome == Outcome::ready; }
};

// Arms `tracer`'s spawner for `trace_id` (no tracer: untraced), starts `guest`, disarms, tracks
// the guest's pids, then waits as `opt` says. Throws what start() throws (the spawner disarmed,
// opt.on_start_failure called) and Interrupted (core/host/interrupt.h) from the wait.
Launched launch_guest(TraceBackend* tracer, uint32_t trace_id, Guest& guest, const LaunchOptions& opt = {});

// Arms a spawner for the life of the scope (a runner hypetrace forks itself); disarms on every
// exit path. No tracer: nothing.
class ArmedSpawner {
public:
    ArmedSpawner(TraceBackend* tracer, uint32_t trace_id) : tracer_(tracer) {
        if (tracer_) tracer_->arm_spawner(trace_id);
    }
    ~ArmedSpawner() { disarm(); }
    ArmedSpawner(const ArmedSpawner&) = delete;
    ArmedSpawner& operator=(const ArmedSpawner&) = delete;
    void disarm() noexcept {
        if (tracer_) tracer_->disarm_spawner();
        tracer_ = nullptr;
    }

private:
    TraceBackend* tracer_;
};

}  // namespace ht
