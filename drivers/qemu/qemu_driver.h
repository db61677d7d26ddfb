// SPDX-License-Identifier: MIT
// VMs launched directly with QEMU (KVM or TCG), as the paper's "KVM" guests: 1 vCPU, 1 GiB,
// virtio disk, direct kernel boot of the image's kernel/initrd.
#pragma once
#include "drivers/guest.h"

namespace ht {

class QemuDriver : public Driver {
public:
    std::string name() const override { return "qemu"; }
    GuestKind kind() const override { return GuestKind::vm; }
    void preflight(const GuestSpec& spec) const override;
    std::unique_ptr<Guest> create(const GuestSpec& spec) override;
    // QEMU saves and loads a guest's state itself (migration to and from a file): always "".
    std::string restore_problem() const override { return ""; }
    // The full QEMU command line for a spec (exposed for tests and reports).
    static std::vector<std::string> command_line(const GuestSpec& spec);
};

// The line of QEMU's output (its qemu.log) saying the accelerator stopped running the guest's
// vCPU for good ("KVM internal error. Suberror: 1", "KVM: entry failed, hardware error 0x...",
// "error: kvm run failed ..."): QEMU then dumps the registers and pauses the VM, and its process
// lives on with a guest that never runs again. "" when there is none.
std::string qemu_vcpu_failure(const std::string& log);

// What a guest kernel's console says when it panicked: "Kernel panic - not syncing: <why>",
// after the oops that led to it where the console holds one ("BUG: ...", "general protection
// fault ...", "Oops: ..."), the kernel's time stamps dropped. "" when it did not panic. QEMU
// runs on with a guest that never answers again.
std::string guest_kernel_panic(const std::string& console);

}  // namespace ht
