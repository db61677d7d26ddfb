// SPDX-License-Identifier: MIT
// /proc/PID/io (parse_proc_io): every field read is named by a line of the text.
#include "core/host/proc.h"
#include "fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text = fuzz_text(data, size);
    fuzz_expect_user_errors_only([&] {
        for (const auto& [name, value] : ht::parse_proc_io(text)) {
            HT_FUZZ_CHECK(!name.empty());
            HT_FUZZ_CHECK(text.find(name + ": ") != std::string::npos);
            (void)value;
        }
    });
    return 0;
}
