// SPDX-License-Identifier: MIT
// /proc/PID/smaps_rollup (parse_smaps_rollup) and /proc/PID/status fields (parse_status_kb).
#include "core/memscan/memusage.h"
#include "fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text = fuzz_text(data, size);
    fuzz_expect_user_errors_only([&] {
        ht::MemUsage m = ht::parse_smaps_rollup(text);
        m += ht::parse_smaps_rollup(text);
        ht::parse_status_kb(text, "VmRSS");
        ht::parse_status_kb(text, "VmHWM");
    });
    return 0;
}
