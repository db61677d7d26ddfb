// SPDX-License-Identifier: MIT
// Lines QEMU sends on QMP (qmp_reply): each is a reply, nothing, or a UserError.
#include "drivers/qemu/qmp.h"
#include "fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text = fuzz_text(data, size);
    std::size_t pos = 0;
    while (pos <= text.size()) {
        auto nl = text.find('\n', pos);
        if (nl == std::string::npos) nl = text.size();
        const std::string_view line(text.data() + pos, nl - pos);
        fuzz_expect_user_errors_only([&] { ht::qmp_reply(line, "query-status"); });
        pos = nl + 1;
    }
    return 0;
}
