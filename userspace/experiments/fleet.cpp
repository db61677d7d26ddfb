// SPDX-License-Identifier: MIT
#include "experiments/fleet.h"
#include "experiments/launch.h"

#include "core/base/clock.h"
#include "core/base/error.h"
#include "core/base/setting.h"
#include "core/views/report.h"

#include <unistd.h>

namespace ht {

GuestSpec fleet_guest_spec(const FleetConfig& cfg) {
    return make_guest_spec(cfg.variant, cfg.images, cfg.accel, cfg.rootfs);
}

GuestFleet::GuestFleet(FleetConfig cfg, TraceBackend* tracer, uint32_t first_trace_id)
    : cfg_(std::move(cfg)), tracer_(tracer), next_trace_id_(first_trace_id) {}

FleetMember& GuestFleet::add(const std::function<void(GuestSpec&)>& adjust) {
    auto g = std::make_unique<FleetMember>();
    g->index = unsigned(members_.size()) + 1;
    g->trace_id = next_trace_id_++;
    if (tracer_ && tracer_->sink())
        tracer_->sink()->name_guest(g->trace_id, cfg_.id + " guest " + std::to_string(g->index));
    const std::string tag = cfg_.tag + "-" + cfg_.id + "-" + std::to_string(getpid());
    g->dir = std::make_unique<ScratchDir>(cfg_.scratch_parent, tag);
    GuestSpec spec = fleet_guest_spec(cfg_);
    spec.name = "ht-" + tag + "-" + std::to_string(g->index);
    spec.run_dir = g->dir->path();
    if (adjust) adjust(spec);
    g->memory_mb = spec.memory_mb;
    g->guest = cfg_.driver->create(spec);
    g->watcher = std::make_unique<ConsoleWatcher>(spec.run_dir, g->guest->console_files(), g->guest->milestones());
    FleetMember& ref = *g;
    members_.push_back(std::move(g));  // owned before prepare(): cleaned up even if it throws
    ref.guest->prepare();
    return ref;
}

void GuestFleet::launch(FleetMember& m) {
    // Launched only: wait_ready() waits for every launched guest at once.
    m.launch_ns = launch_guest(tracer_, m.trace_id, *m.guest).launch_ns;
    if (command_.empty()) command_ = m.guest->describe();
}

void GuestFleet::wait_ready(uint64_t since_ns, const std::function<void(int)>& wait) {
    const uint64_t deadline = since_ns + uint64_t(cfg_.boot_timeout_s * 1e9);
    for (;;) {
        bool all = true;
        for (auto& g : members_) {
            if (g->ready_ns || !g->launch_ns) continue;
            g->watcher->poll();
            if (auto h = g->watcher->hit("ready")) {
                g->ready_ns = h->ts_ns;
                continue;
            }
            all = false;
            if (!g->guest->alive())
                throw UserError(cfg_.label + " guest " + std::to_string(g->index) +
                                " stopped before it was ready: " + g->guest->failure_hint());
        }
        if (all) return;
        if (mono_ns() > deadline) {
            std::string hint;
            for (auto& g : members_)
                if (!g->ready_ns) hint = g->guest->failure_hint();
            throw UserError(cfg_.label + ": " + std::to_string(members_.size()) + " guests not all ready after " +
                            fmt("%.0f", cfg_.boot_timeout_s) + " s (" + ref(Setting::boot_timeout) + ")" +
                            (hint.empty() ? "" : "; last output: " + hint));
        }
        wait(100);
    }
}

void GuestFleet::stop_all() noexcept {
    for (auto it = members_.rbegin(); it != members_.rend(); ++it) (*it)->guest->stop();
}

void GuestFleet::clear() {
    stop_all();
    members_.clear();
}

}  // namespace ht
