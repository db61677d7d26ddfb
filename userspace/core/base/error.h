// SPDX-License-Identifier: MIT
// The error convention, stated once: a UserError is something the user can act on (bad flag,
// missing image, missing privilege or kernel feature). Its message is one line that says what is
// wrong and what to do; main() prints it as is and exits with its code. Anything else that is
// thrown is a bug or an unexpected system failure and is reported as "internal error".
#pragma once
#include <stdexcept>
#include <string>

namespace ht {

struct UserError : std::runtime_error {
    int exit_code;
    explicit UserError(const std::string& msg, int code = 1) : std::runtime_error(msg), exit_code(code) {}
};

// Usage errors (flags and their values) exit with 2, like CLI11's own.
inline UserError usage_error(const std::string& msg) { return UserError(msg, 2); }

// strerror(errno) with the call that failed: "open /x: No such file or directory".
std::string errno_text(const std::string& what, int err);

}  // namespace ht
