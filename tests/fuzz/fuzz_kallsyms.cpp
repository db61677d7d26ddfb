// SPDX-License-Identifier: MIT
// /proc/kallsyms (KernelSymbols::parse), then the name of every address the text mentions and of
// its neighbours.
#include "core/tracing/symbols.h"
#include "fuzz.h"

#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text = fuzz_text(data, size);
    fuzz_expect_user_errors_only([&] {
        const ht::KernelSymbols k = ht::KernelSymbols::parse(text);
        std::size_t pos = 0;
        for (int i = 0; i < 64 && pos < text.size(); ++i) {
            const uint64_t a = std::strtoull(text.c_str() + pos, nullptr, 16);
            for (uint64_t x : {a, a - 1, a + 1}) HT_FUZZ_CHECK(!k.name(x).empty());
            pos = text.find('\n', pos);
            if (pos == std::string::npos) break;
            ++pos;
        }
    });
    return 0;
}
