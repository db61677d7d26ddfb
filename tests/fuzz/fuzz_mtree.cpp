// SPDX-License-Identifier: MIT
// QEMU's `info mtree -f` (parse_mtree), and the owner of the ports and addresses it names.
#include "drivers/qemu/qmp.h"
#include "fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text = fuzz_text(data, size);
    fuzz_expect_user_errors_only([&] {
        const ht::Mtree m = ht::parse_mtree(text);
        HT_FUZZ_CHECK(m.io.size() <= 4096 && m.memory.size() <= 4096);
        for (const auto& r : m.io) HT_FUZZ_CHECK(!m.io_owner(r.start).empty());
        for (const auto& r : m.memory) HT_FUZZ_CHECK(!m.memory_owner(r.end).empty());
    });
    return 0;
}
