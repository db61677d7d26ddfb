// SPDX-License-Identifier: MIT
// /proc/PID/maps: the page scanner's ranges (parse_maps) and the symbolizer's executable mappings
// (parse_exec_mappings). A range must not end before it starts: the scanner walks it page by page.
#include "core/memscan/pagescan.h"
#include "core/tracing/symbols.h"
#include "fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text = fuzz_text(data, size);
    fuzz_expect_user_errors_only([&] {
        for (const auto& r : ht::parse_maps(text)) HT_FUZZ_CHECK(r.start <= r.end);
        for (const auto& m : ht::parse_exec_mappings(text)) HT_FUZZ_CHECK(m.start <= m.end);
    });
    return 0;
}
