// SPDX-License-Identifier: MIT
// Reading files through mappings that another process may truncate meanwhile (the page cache of a
// running host): a touch past the file's new end is SIGBUS, which would kill a long scan.
#pragma once

namespace ht {

// Runs fn(arg); a SIGBUS while it runs returns false instead of killing the process (a SIGBUS
// anywhere else still does). fn is abandoned mid-way then: it must not allocate, lock, or leave
// state half-changed that the caller keeps.
bool run_sigbus_guarded(void (*fn)(void*), void* arg);

}  // namespace ht
