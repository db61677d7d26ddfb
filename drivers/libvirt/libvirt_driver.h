// SPDX-License-Identifier: MIT
// VMs through the libvirt C API (libvirtd at qemu:///system; scripts/start-libvirtd.sh starts it).
// Domains are transient and auto-destroyed with hypetrace's connection, so nothing outlives a
// killed run. The same kernel, initrd and disk as the qemu driver (the disk through a per-guest
// qcow2 overlay); by default the devices a default virt-install domain gets (video + graphics,
// sound, two USB controllers with a tablet), each removable for `hypetrace devices` (Table 2).
#pragma once
#include "core/base/setting.h"
#include "drivers/guest.h"
#include "drivers/qemu/kvm_cpu.h"

#include <string>
#include <vector>

typedef struct _virConnect virConnect;

namespace ht {

class LibvirtDriver : public Driver {
public:
    explicit LibvirtDriver(std::string uri = "qemu:///system", DeviceSet devices = {});
    ~LibvirtDriver() override;
    std::string name() const override { return "libvirt"; }
    GuestKind kind() const override { return GuestKind::vm; }
    void preflight(const GuestSpec& spec) const override;
    std::unique_ptr<Guest> create(const GuestSpec& spec) override;
    std::string restore_problem() const override {
        return "checkpoints through libvirt (virDomainSave/Restore) are not built yet: use " + ref(Setting::driver) + " qemu";
    }

    void set_devices(const DeviceSet& d) { devices_ = d; }
    const DeviceSet& devices() const { return devices_; }
    // The domain XML for a spec (exposed for tests and reports); `disk` is the guest's overlay.
    // Under KVM the CPU is `cpu` (nullptr: the model probed for QEMU, kvm_cpu_model()).
    static std::string domain_xml(const GuestSpec& spec, const DeviceSet& devices, const std::string& disk,
                                  const KvmCpuModel* cpu = nullptr);
    // <cpu> for a QEMU model: host -> host-passthrough, max -> maximum, others custom; disabled features.
    static std::string cpu_xml(const KvmCpuModel& cpu);

    virConnect* connection() const;  // opened on first use; throws UserError if libvirtd is unreachable

private:
    std::string uri_;
    DeviceSet devices_;
    mutable virConnect* conn_ = nullptr;
};

}  // namespace ht
