// SPDX-License-Identifier: MIT
// `hypetrace devices`: memory saved by dropping emulated devices from a libvirt-default VM (paper
// section 4.2, Table 2). For each device set, several identical VMs are booted together, left to
// settle (KSM off) and measured like `hypetrace memory` does; savings are differences of the mean
// per-VM footprint from the default domain's, per device and per combination (not additive).
#pragma once
#include "drivers/guest.h"
#include "experiments/memory.h"

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace ht {

struct DeviceRow {
    DeviceSet devices;
    unsigned guests = 0;
    Summary pss_mb;           // per VM
    Summary no_tcg_mb;        // per VM, guest RAM + QEMU (without TCG's code cache)
    Summary qemu_mb, guest_ram_mb;  // per VM, the two parts a device can change
    double saving_mb = NAN, saving_ci95 = NAN;  // default's mean minus this one's
    double saving_no_tcg_mb = NAN, saving_no_tcg_ci95 = NAN;
    double saving_qemu_mb = NAN, saving_guest_ram_mb = NAN;  // where the saving comes from
    double saving_qemu_ci95 = NAN, saving_guest_ram_ci95 = NAN;
    double additive_mb = NAN; // sum of the single-device savings of the devices removed here
    double paper_mb = NAN;    // the paper's saving, where it has one
};

struct DevicesResult {
    MemoryResult memory;  // the raw runs, one series per device set
    std::vector<DeviceRow> rows;
};

// The tracer's counter buckets: Table 2 is measured by memory runs, with theirs.
inline constexpr uint64_t kDevicesBucketNs = kMemoryBucketNs;

// Pure: rows from the memory series (one per set, in `sets` order, default first).
std::vector<DeviceRow> summarize_devices(const MemoryResult& m, const std::vector<DeviceSet>& sets);

nlohmann::json to_json(const DevicesResult& r);
std::string render_text(const DevicesResult& r);

inline constexpr int kDevicesSchemaVersion = 1;

}  // namespace ht
