// SPDX-License-Identifier: MIT
// ELF files as the symbolizer reads them from a mapping (ElfSymbols::parse): any bytes, truncated
// or lying headers included; then lookups by address and offset.
#include "core/tracing/symbols.h"
#include "fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view bytes(reinterpret_cast<const char*>(data), size);
    fuzz_expect_user_errors_only([&] {
        auto e = ht::ElfSymbols::parse(bytes);
        if (!e) return;
        for (uint64_t off : {uint64_t(0), uint64_t(0x1000), uint64_t(size / 2), uint64_t(size)}) {
            if (auto va = e->vaddr_of_offset(off)) {
                e->find(*va);
                HT_FUZZ_CHECK(e->offset_of_vaddr(*va).has_value());
            }
        }
        e->by_name("main");
        e->find(0x401000);
    });
    return 0;
}
