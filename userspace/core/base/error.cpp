// SPDX-License-Identifier: MIT
#include "core/base/error.h"

#include <cstring>

namespace ht {

std::string errno_text(const std::string& what, int err) { return what + ": " + std::strerror(err); }

}  // namespace ht
