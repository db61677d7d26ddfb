// SPDX-License-Identifier: MIT
// Names of KVM exit reasons (VMX basic exit reasons, SVM exit codes), complete for the kernel's
// uapi asm/vmx.h and asm/svm.h as of Linux 6.18, and of KVM_EXIT_* reasons for exits to userspace.
// Two names per reason: hypetrace's (the uapi macro without its EXIT_REASON_/SVM_EXIT_ prefix:
// IO_INSTRUCTION, IOIO, NPF) and the kernel's own, which the kvm_exit tracepoint and perf kvm stat
// print (VMX: the same; SVM: "io", "npf", "interrupt", "hypercall").
#pragma once
#include <cstdint>
#include <string>

namespace ht {

// The kvm_exit tracepoint's `isa` field.
inline constexpr uint32_t kIsaVmx = 1, kIsaSvm = 2;

// The reason a kvm_exit counts under: VMX's basic exit reason (the low 16 bits; above them are
// flags such as FAILED_VMENTRY, bit 31), SVM's exit code as it is.
inline constexpr uint32_t basic_exit_reason(uint32_t isa, uint32_t reason) {
    return isa == kIsaVmx ? (reason & 0xffff) : reason;
}

// Reasons the exit tables fold port I/O and MMIO under.
inline constexpr uint32_t kVmxIoInstruction = 30, kVmxEptViolation = 48, kVmxEptMisconfig = 49;
inline constexpr uint32_t kSvmIoio = 0x7b, kSvmNpf = 0x400;
// The exit a guest's port I/O leaves by: IO_INSTRUCTION (VMX) or IOIO (SVM).
inline constexpr uint32_t pio_exit_reason(uint32_t isa) { return isa == kIsaSvm ? kSvmIoio : kVmxIoInstruction; }
// The exit an MMIO access leaves by: EPT_MISCONFIG (VMX, once the MMIO page is marked) or NPF (SVM).
inline constexpr uint32_t mmio_exit_reason(uint32_t isa) { return isa == kIsaSvm ? kSvmNpf : kVmxEptMisconfig; }

// hypetrace's name: "IO_INSTRUCTION", "IOIO", "NPF", "EXCP_PF"; unknown codes "VMX_<n>" / "SVM_0x<n>".
// VMX reasons are masked to their basic reason first.
std::string kvm_exit_reason_name(uint32_t isa, uint32_t reason);
// The kernel's (and perf kvm stat's) name: "io", "npf", "PF excp" (SVM); as above for VMX; "" if
// the kernel has none.
std::string kvm_exit_reason_trace_name(uint32_t isa, uint32_t reason);
// True if the reason is one the kernel's uapi headers define.
bool kvm_exit_reason_known(uint32_t isa, uint32_t reason);
std::string kvm_userspace_exit_name(uint32_t reason);

}  // namespace ht
