// SPDX-License-Identifier: MIT
// What every target checks beyond the sanitizers: a parser of outside text returns, or throws
// ht::UserError (which the binary prints as one line); any other exception is a crash.
#pragma once
#include "core/base/error.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#define HT_FUZZ_CHECK(cond)                                                            \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            __builtin_fprintf(stderr, "%s:%d: %s does not hold\n", __FILE__, __LINE__, #cond); \
            std::abort();                                                              \
        }                                                                              \
    } while (0)

inline std::string fuzz_text(const uint8_t* data, size_t size) {
    return std::string(reinterpret_cast<const char*>(data), size);
}

// Runs `fn`; a UserError is an answer, anything else propagates (libFuzzer reports it).
template <typename Fn>
void fuzz_expect_user_errors_only(Fn fn) {
    try {
        fn();
    } catch (const ht::UserError&) {
    }
}
