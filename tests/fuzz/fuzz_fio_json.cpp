// SPDX-License-Identifier: MIT
// fio's JSON output as it comes back from a guest (parse_fio_json): never throws, every job named.
#include "experiments/fio_result.h"
#include "fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text = fuzz_text(data, size);
    for (const auto& j : ht::parse_fio_json(text)) HT_FUZZ_CHECK(!j.name.empty());
    return 0;
}
