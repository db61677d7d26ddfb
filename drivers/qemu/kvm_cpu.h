// SPDX-License-Identifier: MIT
// The CPU model QEMU gets under KVM, probed rather than guessed: "-cpu host" is the faithful choice,
// but some KVMs refuse part of the host's model (seen on an AMD host under PVM: QEMU aborts at start
// with "failed to set MSR 0x10a" for IA32_ARCH_CAPABILITIES), so the next candidate that starts is
// used and the choice says why.
#pragma once
#include <functional>
#include <string>
#include <vector>

namespace ht {

struct KvmCpuModel {
    std::string model;                   // QEMU's model name: "host", "max", "qemu64"
    std::vector<std::string> disabled;   // features turned off on it: "arch-capabilities"
    std::string why;                     // one line: why this one (what the better ones said)

    // The -cpu argument: "host" or "host,arch-capabilities=off".
    std::string qemu_arg() const;
};

// The candidates, best first: host, host without IA32_ARCH_CAPABILITIES, max, qemu64.
std::vector<KvmCpuModel> kvm_cpu_candidates();

// Whether QEMU starts a machine with this model under KVM (init, reset, a query over QMP, quit).
// On failure `error` gets QEMU's last line.
bool qemu_kvm_cpu_starts(const KvmCpuModel& m, std::string* error);

// The first candidate for which `starts` says yes, with `why` filled in; throws UserError naming
// every refusal if none does.
KvmCpuModel choose_kvm_cpu(const std::function<bool(const KvmCpuModel&, std::string*)>& starts);

// The first candidate that starts, probed once per process (under a second per candidate).
// Throws UserError if none does (KVM unusable by QEMU here).
const KvmCpuModel& kvm_cpu_model();

}  // namespace ht
