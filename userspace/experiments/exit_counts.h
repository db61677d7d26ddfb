// SPDX-License-Identifier: MIT
// What the kernel counted of a guest's VM exits, as the tracer's counters hand them over (port
// I/O by port, MMIO by address, exits by reason, exits to QEMU, KVM_RUN time and its histogram),
// and the views of them every experiment that shows exits shares (exitcost, io).
#pragma once
#include "core/tracing/trace_data.h"
#include "drivers/guest.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace ht {

// What the kernel counted of a guest's exits (exitcost: in one phase, summed over runs).
struct ExitCounts {
    std::map<uint64_t, uint64_t> pio;         // port | rw << 16 (rw 1 = OUT)
    std::map<uint64_t, uint64_t> mmio;        // gpa | type << 56 (type 2 = write)
    std::map<uint64_t, uint64_t> user_exits;  // KVM_EXIT_* reason of exits to QEMU
    std::map<uint64_t, uint64_t> kvm_exits;   // kvm:kvm_exit reason | isa << 32 (VT-x/AMD-V)
    std::map<uint64_t, uint64_t> kvm_exit_ns; // time from kvm_exit to kvm_entry, same key
    uint64_t kvm_runs = 0, kvm_run_ns = 0;    // KVM_RUN ioctls returned in the phase, time inside
    uint64_t kvm_run_entry_ns = 0;            // of which KVM's entry work (ioctl -> guest FPU state loaded)
    std::map<uint64_t, uint64_t> run_log2;    // KVM_RUN duration histogram, floor(log2 ns)
    uint64_t kvm_run_min_ns = 0, kvm_run_max_ns = 0;  // the shortest and longest KVM_RUN (0: none)
    // Adds one of the tracer's exit counts (pio, mmio, exits, KVM_RUN time, its histogram and
    // extremes); false for kinds that are not about exits.
    bool add(const CounterSample& c);
    uint64_t total_pio() const;
    uint64_t total_mmio() const;
    uint64_t total_user_exits() const;
    uint64_t total_kvm_exits() const;
};

// Rows "kind, port/address, device, per op, total" for every port and address in `c` but
// `hidden_port` (exitcost's phase marker port), devices from `mtree`: shared by exitcost and io.
std::vector<std::vector<std::string>> exit_device_rows(const ExitCounts& c, const DeviceMap& mtree, double ops, int hidden_port = -1);
// "N runs, min X us, avg Y us, max Z us; 8.2us-16us 98% ...": the time per KVM_RUN call of c (the
// histogram's buckets of 0.5 % and up, largest first); empty when no KVM_RUN was counted.
std::string kvm_run_time_line(const ExitCounts& c);

}  // namespace ht
