// SPDX-License-Identifier: MIT
// This process's own mount namespace: what hypetrace mounts (tracefs, where a host has none) stays
// in it and goes with the process, however the process ends. Nothing it mounts reaches the host.
#pragma once
#include <string>

namespace ht {

// Moves the calling process into a mount namespace of its own, a slave of the one it was in: the
// host's mounts and unmounts still reach it, its own never reach the host, and when the last
// process in it exits (hypetrace and the children it started: QEMU, LXC's monitors) its mounts
// go too, SIGKILL or not. Call it before any thread starts: unshare moves the calling thread
// only, and threads started after inherit its namespace. Returns false when it cannot (not
// root, no CAP_SYS_ADMIN, a seccomp filter, / no mount point), with the reason in *why; mounts
// then reach the host as before, and a tracer unmounts the tracefs it mounted when it goes.
bool enter_private_mount_namespace(std::string* why);

}  // namespace ht
