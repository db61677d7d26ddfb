// SPDX-License-Identifier: MIT
#include "core/host.h"
#include "core/error.h"
#include "core/proc.h"

#include <gtest/gtest.h>

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
