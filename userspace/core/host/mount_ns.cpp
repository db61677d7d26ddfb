// SPDX-License-Identifier: MIT
#include "core/host/mount_ns.h"

#include "core/base/error.h"
#include "core/host/files.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>

#include <cerrno>
#include <stdexcept>

namespace ht {

bool enter_private_mount_namespace(std::string* why) {
    // Where we were, to go back if the new namespace cannot be made a slave: a namespace made by
    // unshare shares propagation with the one it came from, so a mount in it would reach the host.
    Fd was(open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC));
    if (!was) {
        if (why) *why = errno_text("cannot open /proc/self/ns/mnt", errno);
        return false;
    }
    if (unshare(CLONE_NEWNS) != 0) {
        if (why) *why = errno_text("cannot make a mount namespace of hypetrace's own", errno);
        return false;
    }
    if (mount(nullptr, "/", nullptr, MS_REC | MS_SLAVE, nullptr) != 0) {
        const int e = errno;
        if (setns(was.get(), CLONE_NEWNS) != 0)
            throw std::runtime_error(errno_text("cannot return to the host's mount namespace after failing to make "
                                                "hypetrace's own a slave of it",
                                                errno));
        if (why) *why = errno_text("cannot make hypetrace's mount namespace a slave of the host's", e);
        return false;
    }
    return true;
}

}  // namespace ht
