// SPDX-License-Identifier: MIT
// This process's own mount namespace: what hypetrace mounts (tracefs, where a host has none) stays
// in it and goes with the process, however the process ends. Nothing it mounts reaches the host.
#pragma once
#include <string>

namespace ht {

// Moves the calling process into a mount namespace of its own, a slave of the one it was in: the
// host's mounts and unmounts still reach it, its own never reach the host, and when the last
// process in it exits (hypetrace and the children it started) its mounts go too, SIGKILL or not.
// Must be called before any thread starts, as a mount namespace is per thread until then.
// Returns false, leaving the process where it was, when it cannot (not root, no CAP_SYS_ADMIN,
// a seccomp filter), with the reason in *why; a tracer then mounts tracefs on the host and
// unmounts it when it goes, as before.
bool enter_private_mount_namespace(std::string* why);

}  // namespace ht
