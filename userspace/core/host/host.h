// SPDX-License-Identifier: MIT
// What the host is, and which accelerator a VM gets on it.
#pragma once
#include <string>

namespace ht {

struct HostInfo {
    std::string hostname, kernel, arch, cpu_model, os;
    unsigned cpus = 0;
    unsigned long long memory_kb = 0;
    bool virt_extensions = false;  // vmx or svm in /proc/cpuinfo
    std::string virt_flag;         // "vmx", "svm" or ""
    bool kvm_device = false;       // /dev/kvm opens read-write
    bool btf = false;              // /sys/kernel/btf/vmlinux
};
HostInfo probe_host();

enum class Accel { kvm, tcg };
enum class AccelRequest { auto_, kvm, tcg };

std::string to_string(Accel a);
AccelRequest parse_accel_request(const std::string& s);  // throws usage_error

struct AccelChoice {
    Accel accel = Accel::tcg;
    std::string reason;  // one line: why this accelerator
    bool notice = false; // print the reason as a notice (auto fell back to TCG)
};
// auto: KVM only where the CPU shows vmx/svm and /dev/kvm opens; otherwise TCG, with a notice.
// kvm: requires /dev/kvm (UserError otherwise); warns in `reason` when vmx/svm are absent.
AccelChoice choose_accel(AccelRequest req, const HostInfo& host);

}  // namespace ht
