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
    // Checkpoints: virDomainSaveFlags of the running domain, virDomainRestoreFlags with its saved
    // XML pointed at the run's own files (see LibvirtGuest). libvirt places a file-backed guest
    // RAM itself (memory_backing_dir), so no lazy restore here.
    std::string restore_problem() const override { return ""; }
    std::string lazy_restore_problem() const override {
        return "a lazy restore maps the guest's RAM from a file of the checkpoint, which libvirt does not let a "
               "domain name: use " + ref(Setting::driver) + " qemu";
    }
    // A restored domain cannot be auto-destroyed with the connection (virDomainRestore has no such
    // flag): its name is kept in its scratch directory, and a dead run's domain is destroyed here.
    Reaped reap(const std::filesystem::path& run_dir) noexcept override;
    // The XML a restore passes to libvirt: the saved domain's, with its files under the
    // checkpointed run's scratch directory moved to `new_run` and its disk to `disk` (an overlay on
    // `backing`, the checkpoint's disk, itself on `base`). Its name and UUID stay: libvirt refuses
    // a restore under another name. Throws UserError when the saved XML is not shaped as
    // domain_xml makes it.
    static std::string restore_xml(const std::string& saved, const std::string& new_run, const std::string& disk,
                                   const std::string& backing, const std::string& base);
    // The <name> of a domain XML ("" when it has none).
    static std::string xml_domain_name(const std::string& xml);

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
