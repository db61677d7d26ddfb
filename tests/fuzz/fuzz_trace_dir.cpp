// SPDX-License-Identifier: MIT
// A trace directory's files (trace.json, stacks, samples, events, counters, ksm: the input split at
// NUL bytes, in that order): parsed, then folded as each flame graph kind, as `flamegraph` does
// with a directory someone handed over.
#include "core/views/flamegraph.h"
#include "core/tracing/trace_dir.h"
#include "fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string in = fuzz_text(data, size);
    ht::TraceTexts x;
    std::string* parts[] = {&x.meta, &x.stacks, &x.samples, &x.events, &x.counters, &x.ksm};
    std::size_t pos = 0;
    for (std::string* p : parts) {
        if (pos > in.size()) break;
        const auto nul = in.find('\0', pos);
        *p = in.substr(pos, nul == std::string::npos ? std::string::npos : nul - pos);
        pos = nul == std::string::npos ? in.size() + 1 : nul + 1;
    }
    fuzz_expect_user_errors_only([&] {
        const ht::TraceData t = ht::parse_trace_texts(x, "fuzz");
        for (auto of : {ht::FlameOf::cpu, ht::FlameOf::exits, ht::FlameOf::faults}) {
            ht::FoldOptions o;
            o.of = of;
            ht::folded_text(ht::fold(t, o));
        }
    });
    return 0;
}
