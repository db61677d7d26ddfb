// SPDX-License-Identifier: MIT
#include "core/host/mount_ns.h"

#include "core/base/error.h"

#include <sched.h>
#include <sys/mount.h>

#include <cerrno>

namespace ht {

bool enter_private_mount_namespace(std::string* why) {
    if (unshare(CLONE_NEWNS) != 0) {
        if (why) *why = errno_text("cannot make a mount namespace of hypetrace's own", errno);
        return false;
    }
    // A namespace made by unshare shares propagation with the one it came from: until it is a
    // slave, a mount in it still reaches the host. Where that fails (/ no mount point, in a
    // chroot; an LSM refusing it) it stays so, which is where the process was as far as mounts
    // go; going back by setns would move the root and working directory to the namespace's.
    if (mount(nullptr, "/", nullptr, MS_REC | MS_SLAVE, nullptr) != 0) {
        if (why) *why = errno_text("cannot make hypetrace's mount namespace a slave of the host's", errno);
        return false;
    }
    return true;
}

}  // namespace ht
