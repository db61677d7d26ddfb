// SPDX-License-Identifier: MIT
// hypetrace's own mount namespace (core/host/mount_ns.h): what it mounts never reaches the host,
// not before it is killed nor after; what the host mounts still reaches it.
#include "../../../temp_dir.h"
#include "core/host/mount_ns.h"
#include "core/host/proc.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <string>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

// Whether `dir` is a mount point in the mount namespace of process `pid` (0: this one).
bool mounted_in(pid_t pid, const std::string& dir) {
    const auto text = ht::read_text(pid ? "/proc/" + std::to_string(pid) + "/mountinfo" : "/proc/self/mountinfo");
    for (const ht::MountEntry& m : ht::parse_mountinfo(text.value_or("")))
        if (m.point == dir) return true;
    return false;
}

// A shared tmpfs of the test's, so that propagation is what a systemd host has on /: shared. A
// namespace left sharing with it would pass its mounts back; a private one would get none.
struct SharedMount {
    std::string dir;
    bool ok = false;
    explicit SharedMount(std::string d) : dir(std::move(d)) {
        ok = mount("ht-test", dir.c_str(), "tmpfs", 0, "size=1m") == 0 &&
             mount(nullptr, dir.c_str(), nullptr, MS_SHARED, nullptr) == 0;
    }
    ~SharedMount() {
        umount2((dir + "/host").c_str(), MNT_DETACH);
        umount2(dir.c_str(), MNT_DETACH);
    }
    SharedMount(const SharedMount&) = delete;
    SharedMount& operator=(const SharedMount&) = delete;
};

char read_char(int fd) {
    char c = 0;
    return read(fd, &c, 1) == 1 ? c : 0;
}

}  // namespace

TEST(MountNamespace, OwnMountsNeverReachTheHostWhileTheHostsReachIt) {
    if (geteuid() != 0) GTEST_SKIP() << "needs root: mounts and a mount namespace";
    const TestTempDir t("/tmp/ht-mntns-XXXXXX");
    const SharedMount shared(t.path);
    ASSERT_TRUE(shared.ok) << "cannot mount a shared tmpfs on " << t.path;
    const std::string ours = t.path + "/ours", hosts = t.path + "/host";
    ASSERT_EQ(mkdir(ours.c_str(), 0700), 0);
    ASSERT_EQ(mkdir(hosts.c_str(), 0700), 0);

    int up[2], down[2];  // child to test, test to child
    ASSERT_EQ(pipe(up), 0);
    ASSERT_EQ(pipe(down), 0);
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        close(up[0]);
        close(down[1]);
        std::string why;
        if (!ht::enter_private_mount_namespace(&why)) {
            std::fprintf(stderr, "%s\n", why.c_str());
            _exit(3);
        }
        if (mount("ht-test", ours.c_str(), "tmpfs", 0, "size=1m") != 0) _exit(4);
        (void)!write(up[1], "m", 1);
        if (read_char(down[0]) != 'h') _exit(5);
        (void)!write(up[1], mounted_in(0, hosts) ? "y" : "n", 1);
        read_char(down[0]);  // until killed
        _exit(0);
    }
    close(up[1]);
    close(down[0]);
    const char mounted = read_char(up[0]);
    // What the child mounted is in its namespace, not in the test's.
    const bool child_has_it = mounted == 'm' && mounted_in(pid, ours);
    const bool host_has_it = mounted_in(0, ours);
    // What the test mounts after reaches the child.
    const bool host_mount = mounted == 'm' && mount("ht-test", hosts.c_str(), "tmpfs", 0, "size=1m") == 0;
    if (host_mount) (void)!write(down[1], "h", 1);
    const char reached = host_mount ? read_char(up[0]) : 0;
    kill(pid, SIGKILL);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    close(up[0]);
    close(down[1]);
    ASSERT_EQ(mounted, 'm') << "the child could not enter its namespace or mount (exit "
                            << (WIFEXITED(status) ? WEXITSTATUS(status) : -1) << ")";
    EXPECT_TRUE(child_has_it);
    EXPECT_FALSE(host_has_it) << "a mount in hypetrace's namespace reached the host";
    EXPECT_TRUE(host_mount);
    EXPECT_EQ(reached, 'y') << "a mount of the host's did not reach hypetrace's namespace";
    EXPECT_FALSE(mounted_in(0, ours)) << "the killed process's mount is on the host";
}
