// SPDX-License-Identifier: MIT
// Names of KVM exit reasons (VMX basic exit reasons, SVM exit codes) and of KVM_EXIT_* reasons
// for exits to userspace, as perf kvm stat names them.
#pragma once
#include <cstdint>
#include <string>

namespace ht {

// isa: 1 = VMX, 2 = SVM (the kvm_exit tracepoint's `isa` field).
std::string kvm_exit_reason_name(uint32_t isa, uint32_t reason);
std::string kvm_userspace_exit_name(uint32_t reason);

}  // namespace ht
