// SPDX-License-Identifier: MIT
// Exit reason names for whatever (isa, reason) a kvm_exit tracepoint or a trace directory gives:
// always a name; a reason the uapi headers define has its own, one they do not a numbered one.
#include "core/tracing/kvm_names.h"
#include "fuzz.h"

#include <cstring>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    for (; size >= 8; data += 8, size -= 8) {
        uint32_t isa = 0, reason = 0;
        std::memcpy(&isa, data, 4);
        std::memcpy(&reason, data + 4, 4);
        isa = isa % 4;  // 0, VMX, SVM, 3: both known ISAs and unknown ones
        const std::string name = ht::kvm_exit_reason_name(isa, reason);
        HT_FUZZ_CHECK(!name.empty());
        const bool numbered = name.rfind("VMX_", 0) == 0 || name.rfind("SVM_0x", 0) == 0;
        if (isa == ht::kIsaVmx || isa == ht::kIsaSvm) HT_FUZZ_CHECK(ht::kvm_exit_reason_known(isa, reason) != numbered);
        HT_FUZZ_CHECK(name == ht::kvm_exit_reason_name(isa, reason));
        ht::kvm_exit_reason_trace_name(isa, reason);
        HT_FUZZ_CHECK(!ht::kvm_userspace_exit_name(reason).empty());
    }
    return 0;
}
