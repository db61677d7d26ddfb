// SPDX-License-Identifier: MIT
// Folded stacks ("a;b;c 12", what `flamegraph --diff` and other tools read): parsing what was
// written gives back the same stacks, and the SVG of them is made without a fault.
#include "core/flamegraph.h"
#include "fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text = fuzz_text(data, size);
    fuzz_expect_user_errors_only([&] {
        const ht::Folded f = ht::parse_folded(text);
        const ht::Folded again = ht::parse_folded(ht::folded_text(f));
        HT_FUZZ_CHECK(again.size() == f.size());
        for (std::size_t i = 0; i < f.size(); ++i)
            HT_FUZZ_CHECK(again[i].stack == f[i].stack && again[i].count == f[i].count);
        if (f.size() < 200) {
            ht::flamegraph_svg(f, {});
            ht::diff_flamegraph_svg(ht::diff_folded(f, again), {});
        }
    });
    return 0;
}
