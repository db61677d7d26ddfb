// SPDX-License-Identifier: MIT
// /proc/PID/smaps: a VM's split into guest RAM, TCG cache and QEMU (parse_vm_smaps, the guest's
// RAM size from the input's first 8 bytes), KSM-mergeable ranges (parse_mergeable_starts), and
// /proc/PID/ksm_stat (parse_ksm_mergeable).
#include "core/memscan/dedup_scan.h"
#include "core/memscan/memusage.h"
#include "fuzz.h"

#include <cstring>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    uint64_t ram = 0;
    if (size >= 8) {
        std::memcpy(&ram, data, 8);
        data += 8;
        size -= 8;
    }
    const std::string text = fuzz_text(data, size);
    fuzz_expect_user_errors_only([&] {
        ht::parse_vm_smaps(text, ram);
        ht::parse_mergeable_starts(text);
        ht::parse_ksm_mergeable(text);
    });
    return 0;
}
