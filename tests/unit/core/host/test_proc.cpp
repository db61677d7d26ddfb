// SPDX-License-Identifier: MIT
#include "../../../temp_dir.h"
#include "core/host/host.h"
#include "core/base/error.h"
#include "core/host/files.h"
#include "core/host/proc.h"
#include "core/host/spawn.h"
#include "core/base/text.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <filesystem>
#include <stdlib.h>

using namespace ht;

TEST(Proc, StatWithSpacesAndParensInComm) {
    std::string text = "4242 (qemu (x) y) S 17 4242 4242 0 -1 4194560 1500 0 3 0 120 45 0 0 20 0 3 0 987654 "
                       "1073741824 5000 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0\n";
    auto st = parse_proc_stat(text);
    ASSERT_TRUE(st);
    EXPECT_EQ(st->pid, 4242);
    EXPECT_EQ(st->comm, "qemu (x) y");
    EXPECT_EQ(st->state, 'S');
    EXPECT_EQ(st->ppid, 17);
    EXPECT_EQ(st->minflt, 1500u);
    EXPECT_EQ(st->majflt, 3u);
    EXPECT_EQ(st->utime_ticks, 120u);
    EXPECT_EQ(st->stime_ticks, 45u);
    EXPECT_EQ(st->starttime_ticks, 987654u);
}

TEST(Proc, StatRejectsGarbage) {
    EXPECT_FALSE(parse_proc_stat(""));
    EXPECT_FALSE(parse_proc_stat("12 (x) S 1"));
    EXPECT_FALSE(parse_proc_stat("no parens here"));
}

TEST(Proc, CpuinfoFirstProcessorFlags) {
    std::string text =
        "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Processor\nflags\t\t: fpu vme vmx sse\n\n"
        "processor\t: 1\nmodel name\t: Intel(R) Xeon(R) Processor\nflags\t\t: fpu\n";
    CpuInfo ci = parse_cpuinfo(text);
    EXPECT_EQ(ci.processors, 2u);
    EXPECT_EQ(ci.model, "Intel(R) Xeon(R) Processor");
    EXPECT_TRUE(ci.flags.count("vmx"));
    EXPECT_FALSE(ci.flags.count("svm"));
}

TEST(Proc, MeminfoAndPidLists) {
    EXPECT_EQ(parse_meminfo_kb("MemTotal:       24683520 kB\nMemFree: 5 kB\n", "MemTotal"), 24683520u);
    EXPECT_EQ(parse_meminfo_kb("MemFree: 5 kB\n", "MemTotal"), 0u);
    EXPECT_EQ(parse_pid_list("12\n7\n\n300\n"), (std::vector<pid_t>{12, 7, 300}));
}

TEST(Proc, OneCpusTicksAndStealFromProcStat) {
    const std::string stat =
        "cpu  842546 245882 223124 1354070 5240 0 4136 70 0 0\n"
        "cpu0 416881 95376 99606 722295 1399 0 1640 30 0 0\n"
        "cpu1 425665 150506 123518 631774 3841 0 2495 40 0 0\n"
        "cpu12 1 1 1 1 1 1 1 1 0 0\n"
        "cpu3 1 2 3 4\n"
        "intr 1 2 3\n";
    auto c1 = parse_cpu_ticks(stat, 1);
    ASSERT_TRUE(c1);
    EXPECT_EQ(c1->steal, 40u);
    EXPECT_EQ(c1->total, 425665u + 150506 + 123518 + 631774 + 3841 + 0 + 2495 + 40);
    EXPECT_EQ(parse_cpu_ticks(stat, 12)->total, 8u) << "cpu12 is not cpu1";
    EXPECT_FALSE(parse_cpu_ticks(stat, 3)) << "no steal field";
    EXPECT_FALSE(parse_cpu_ticks(stat, 7));
    EXPECT_FALSE(parse_cpu_ticks("", 0));
}

TEST(Accel, AutoPicksKvmOnlyWithVirtExtensions) {
    HostInfo vt;
    vt.virt_flag = "vmx";
    vt.virt_extensions = true;
    vt.kvm_device = true;
    EXPECT_EQ(choose_accel(AccelRequest::auto_, vt).accel, Accel::kvm);
    EXPECT_FALSE(choose_accel(AccelRequest::auto_, vt).notice);

    HostInfo pvm;  // /dev/kvm but no vmx/svm: this machine kind
    pvm.kvm_device = true;
    AccelChoice c = choose_accel(AccelRequest::auto_, pvm);
    EXPECT_EQ(c.accel, Accel::tcg);
    EXPECT_TRUE(c.notice);
    EXPECT_NE(c.reason.find("vmx/svm"), std::string::npos);
    // forcing KVM works where /dev/kvm opens, and says why it may not boot Linux
    AccelChoice forced = choose_accel(AccelRequest::kvm, pvm);
    EXPECT_EQ(forced.accel, Accel::kvm);
    EXPECT_NE(forced.reason.find("no vmx/svm"), std::string::npos);

    HostInfo none;
    EXPECT_EQ(choose_accel(AccelRequest::auto_, none).accel, Accel::tcg);
    EXPECT_THROW(choose_accel(AccelRequest::kvm, none), UserError);
    EXPECT_EQ(choose_accel(AccelRequest::tcg, vt).accel, Accel::tcg);
}

TEST(Accel, ParseRequest) {
    EXPECT_EQ(parse_accel_request("auto"), AccelRequest::auto_);
    EXPECT_EQ(parse_accel_request("kvm"), AccelRequest::kvm);
    EXPECT_EQ(parse_accel_request("tcg"), AccelRequest::tcg);
    try {
        parse_accel_request("hvf");
        FAIL() << "no error for hvf";
    } catch (const UserError& e) {
        EXPECT_EQ(e.exit_code, 2);
    }
}

namespace {
// /proc/self/mountinfo of a cgroup-v2-only host (stock Debian 12) and of this kind's hybrid host.
const char* kMountinfoV2 =
    "22 28 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw\n"
    "26 22 0:24 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n";
const char* kMountinfoHybrid =
    "30 22 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755\n"
    "31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate\n"
    "32 30 0:28 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd\n"
    "35 30 0:31 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,memory\n"
    "36 30 0:32 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,pids\n";
}  // namespace

TEST(Cgroups, AContainersCgroupOnAV2OnlyHostIsUnderTheUnifiedMount) {
    // systemd as the container's init has moved itself into init.scope below the payload
    EXPECT_EQ(cgroup_dir_under("0::/lxc.payload.ht-c1/init.scope\n", kMountinfoV2, "lxc.payload."),
              "/sys/fs/cgroup/lxc.payload.ht-c1");
    EXPECT_EQ(cgroup_dir_under("0::/lxc.payload.ht-c1\n", kMountinfoV2, "lxc.payload."), "/sys/fs/cgroup/lxc.payload.ht-c1");
    EXPECT_EQ(cgroup_dir_under("0::/user.slice/session-1.scope\n", kMountinfoV2, "lxc.payload."), "");
}

TEST(Cgroups, OnAHybridHostTheV1PidsOrMemoryHierarchyIsUsed) {
    const char* cg = "12:pids:/lxc.payload.c-1\n9:memory:/lxc.payload.c-1\n1:name=systemd:/lxc.payload.c-1/init.scope\n"
                     "0::/lxc.payload.c-1/init.scope\n";
    const std::string dir = cgroup_dir_under(cg, kMountinfoHybrid, "lxc.payload.");
    EXPECT_TRUE(dir == "/sys/fs/cgroup/pids/lxc.payload.c-1" || dir == "/sys/fs/cgroup/memory/lxc.payload.c-1") << dir;
    // a mount whose root is not / (inside a cgroup namespace) is subtracted from the path
    EXPECT_EQ(cgroup_dir_under("0::/outer/lxc.payload.x\n",
                               "26 22 0:24 /outer /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n", "lxc.payload."),
              "/sys/fs/cgroup/lxc.payload.x");
    EXPECT_EQ(cgroup_dir_under("garbage\n", kMountinfoHybrid, "lxc.payload."), "");
}

TEST(Text, LastLineIsTheLastNonEmptyLineWithoutItsTrailingBlanks) {
    EXPECT_EQ(last_line("qemu: warning\nqemu: failed to set MSR 0x10a to 0x69\r\n\n"), "qemu: failed to set MSR 0x10a to 0x69");
    EXPECT_EQ(last_line("one line  "), "one line");
    EXPECT_EQ(last_line("\n \n"), "");
    EXPECT_EQ(last_line(""), "");
}

// A spawned child confined to one CPU (SpawnOptions::cpu, density's pinning) runs there only, and
// so does what it starts; without it the child keeps hypetrace's CPUs.
TEST(Spawn, ACpuConfinesTheChildAndWhatItStarts) {
    const TestTempDir tmp("/tmp/ht-spawn-XXXXXX");
    const std::string out = tmp.path + "/out";
    ht::SpawnOptions o;
    o.stdout_path = out;
    o.cpu = 0;
    // the child's own list, then its child's (a second sh)
    EXPECT_EQ(ht::run_and_wait({"sh", "-c", "grep Cpus_allowed_list /proc/self/status; sh -c 'grep Cpus_allowed_list /proc/self/status'"}, o), 0);
    EXPECT_EQ(ht::read_text(out).value_or(""), "Cpus_allowed_list:\t0\nCpus_allowed_list:\t0\n");
    std::filesystem::remove(out);
    o.cpu = -1;
    EXPECT_EQ(ht::run_and_wait({"sh", "-c", "grep Cpus_allowed_list /proc/self/status"}, o), 0);
    const std::string own = ht::read_text("/proc/self/status").value_or("");
    const auto at = own.find("Cpus_allowed_list:");
    ASSERT_NE(at, std::string::npos);
    EXPECT_EQ(ht::read_text(out).value_or(""), own.substr(at, own.find('\n', at) - at + 1));
}

// An Fd closes what it holds when it goes, when it is given another, and when one is moved into
// it; a move leaves the source empty; a path that does not open is an empty Fd.
TEST(Fd, ClosesOnDestructionResetAndMoveAssignment) {
    auto is_open = [](int fd) { return fd >= 0 && fcntl(fd, F_GETFD) != -1; };
    int a = -1, b = -1;
    {
        Fd f = Fd::open_read("/proc/self/stat");
        ASSERT_TRUE(f);
        a = f.get();
        EXPECT_TRUE(fcntl(a, F_GETFD) & FD_CLOEXEC);
        Fd g(std::move(f));
        EXPECT_FALSE(f);
        EXPECT_EQ(g.get(), a);
        EXPECT_TRUE(is_open(a));
        Fd h = Fd::open_read("/proc/self/status");
        b = h.get();
        g = std::move(h);  // a closed, b now g's
        EXPECT_FALSE(is_open(a));
        EXPECT_TRUE(is_open(b));
        EXPECT_FALSE(h);
    }
    EXPECT_FALSE(is_open(b));
    Fd r = Fd::open_read("/proc/self/stat");
    const int c = r.get();
    r.reset();
    EXPECT_FALSE(is_open(c));
    EXPECT_FALSE(r);
    EXPECT_FALSE(Fd::open_read("/nonexistent/hypetrace"));
}

// What cleanup does for a libvirt domain whose libvirtd is gone: its QEMU found by an argument's
// prefix ("guest=NAME," of -name), then killed though it is not hypetrace's child.
TEST(Proc, AProcessIsFoundByAnArgumentsPrefixAndKilled) {
    const std::string tag = "guest=ht-unit-" + std::to_string(getpid()) + ",";
    // a shell that stops itself (no child of its own), carrying the tag as its $0
    ht::Child c = ht::spawn({"sh", "-c", "kill -STOP $$", tag + "debug-threads=on"});
    std::vector<pid_t> found;
    for (int i = 0; i < 500 && found.empty(); ++i) {
        found = ht::pids_with_arg_prefix(tag);
        if (found.empty()) usleep(10000);
    }
    EXPECT_EQ(found, std::vector<pid_t>{c.pid});
    EXPECT_TRUE(ht::pids_with_arg_prefix("guest=ht-unit-" + std::to_string(getpid()) + "0,").empty()) << "another name";
    EXPECT_TRUE(ht::pids_with_arg_prefix("debug-threads").empty()) << "a prefix, not a part";
    EXPECT_TRUE(ht::kill_processes({c.pid}));
    EXPECT_FALSE(ht::process_alive(c.pid));
    EXPECT_TRUE(ht::pids_with_arg_prefix(tag).empty());
    ht::terminate(c.pid);  // reaped
}
