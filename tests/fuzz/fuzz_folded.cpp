// SPDX-License-Identifier: MIT
// Folded stacks ("a;b;c 12", what `flamegraph --diff` and other tools read): parsing what was
// written gives back the same stacks, and the SVG of them, and the differential SVG of the input's
// two halves, are made without a fault.
#include "core/views/flamegraph.h"
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
            // a differential one: the first half of the input's lines against the second
            const ht::Folded a = ht::parse_folded(text.substr(0, text.size() / 2)),
                             b = ht::parse_folded(text.substr(text.size() / 2));
            ht::diff_flamegraph_svg(ht::diff_folded(a, b), {});
        }
    });
    return 0;
}
