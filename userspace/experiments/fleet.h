// SPDX-License-Identifier: MIT
// A set of identical guests started together and owned until they are stopped: created and
// prepared (not timed), launched, watched until each writes its ready marker. Used by `memory`
// (guests added step by step) and `dedup` (guests booted to be scanned). Every guest is stopped,
// and its scratch directory removed, on every exit path (the destructor).
#pragma once
#include "core/tracing/trace_backend.h"
#include "core/host/console.h"
#include "core/host/files.h"
#include "drivers/guest.h"

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace ht {

struct FleetMember {
    unsigned index = 0;  // 1-based, in the order added
    uint32_t trace_id = 0;
    std::unique_ptr<ScratchDir> dir;
    std::unique_ptr<Guest> guest;
    std::unique_ptr<ConsoleWatcher> watcher;
    uint64_t launch_ns = 0, ready_ns = 0;
    unsigned memory_mb = 0;
};

struct FleetConfig {
    Driver* driver = nullptr;
    std::string id;     // short, in guest names and scratch directory names ("kvm", "lxc")
    std::string label;  // for messages ("KVM")
    Variant variant = Variant::full;
    ImageSet images;
    std::filesystem::path scratch_parent = "/var/tmp/hypetrace";
    std::string tag = "mem";  // scratch dirs TAG-ID-PID-XXXXXX, guests ht-TAG-ID-PID-N
    Accel accel = Accel::tcg;
    RootfsMode rootfs = RootfsMode::shared;
    double boot_timeout_s = 300;
};

// The spec each of the fleet's guests is created from (name and run_dir added per guest): what a
// preflight of the fleet's guests must check.
GuestSpec fleet_guest_spec(const FleetConfig& cfg);

class GuestFleet {
public:
    // `tracer` (optional) gets each guest's processes as they are launched, under trace ids
    // counting up from `first_trace_id`.
    GuestFleet(FleetConfig cfg, TraceBackend* tracer = nullptr, uint32_t first_trace_id = 1);
    ~GuestFleet() { stop_all(); }
    GuestFleet(const GuestFleet&) = delete;
    GuestFleet& operator=(const GuestFleet&) = delete;

    // Creates and prepares (rootfs copy, disk overlay) one more guest, not launched yet; `adjust`
    // (optional) sets what differs per guest (density: its job, its host CPU) on the shared spec.
    FleetMember& add(const std::function<void(GuestSpec&)>& adjust = {});
    void launch(FleetMember& m);
    // Waits until every launched guest is ready; `wait` is called to sleep up to N ms (it must
    // poll the watchers' fds or just sleep). Throws UserError on a dead guest or the timeout.
    void wait_ready(uint64_t since_ns, const std::function<void(int)>& wait);
    // Stops every guest, the last added first. Idempotent.
    void stop_all() noexcept;
    // Stops and forgets them all (scratch directories removed).
    void clear();

    std::vector<std::unique_ptr<FleetMember>>& members() { return members_; }
    const std::vector<std::unique_ptr<FleetMember>>& members() const { return members_; }
    std::size_t size() const { return members_.size(); }
    uint32_t next_trace_id() const { return next_trace_id_; }
    const std::string& first_command() const { return command_; }
    const FleetConfig& config() const { return cfg_; }

private:
    FleetConfig cfg_;
    TraceBackend* tracer_;
    uint32_t next_trace_id_;
    std::string command_;
    std::vector<std::unique_ptr<FleetMember>> members_;
};

}  // namespace ht
