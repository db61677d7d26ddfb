// SPDX-License-Identifier: MIT
// /proc/PID/stat (parse_proc_stat): the command name may hold anything, including ')'.
#include "core/host/proc.h"
#include "fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text = fuzz_text(data, size);
    fuzz_expect_user_errors_only([&] {
        if (auto st = ht::parse_proc_stat(text)) HT_FUZZ_CHECK(st->comm.size() < text.size());
    });
    return 0;
}
