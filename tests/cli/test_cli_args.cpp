// SPDX-License-Identifier: MIT
// Bad flags and values: one clear line on stderr, nothing on stdout, exit code 2. Parsing happens
// before any privilege check, so these need no root.
#include "../run_binary.h"

#include <gtest/gtest.h>

namespace {
void expect_usage_error(const std::vector<std::string>& args, const std::string& needle) {
    BinaryResult r = run_hypetrace(args);
    std::string what;
    for (const auto& a : args) what += a + " ";
    EXPECT_EQ(r.code, 2) << what << "\n" << r.err;
    EXPECT_EQ(r.lines(r.err), 1) << what << "\n" << r.err;
    EXPECT_TRUE(r.out.empty()) << what << "\n" << r.out;
    EXPECT_NE(r.err.find(needle), std::string::npos) << what << "\n" << r.err;
    EXPECT_EQ(r.err.rfind("hypetrace: ", 0), 0u) << r.err;
}
}  // namespace

TEST(CliArgs, UnknownFlag) { expect_usage_error({"startup", "--lxc", "--bogus"}, "--bogus"); }
TEST(CliArgs, UnknownSubcommand) { expect_usage_error({"warpdrive"}, "warpdrive"); }
TEST(CliArgs, NoSubcommand) { expect_usage_error({}, "subcommand"); }
TEST(CliArgs, BadAccel) { expect_usage_error({"startup", "--kvm", "--accel", "hvf"}, "hvf"); }
TEST(CliArgs, ZeroRuns) { expect_usage_error({"startup", "--lxc", "--runs", "0"}, "--runs"); }
TEST(CliArgs, NotANumber) { expect_usage_error({"startup", "--lxc", "--runs", "many"}, "many"); }
TEST(CliArgs, RunsIsANumberOrAuto) {
    expect_usage_error({"startup", "--lxc", "--runs", "auto2"}, "--runs auto2: give a number of runs from 1 to 1000, or auto");
    expect_usage_error({"startup", "--lxc", "--runs", "1001"}, "--runs 1001");
    expect_usage_error({"io", "--native", "--runs", "101"}, "--runs 101: give a number of runs from 1 to 100, or auto");
    expect_usage_error({"io", "--native", "--runs", "-1"}, "--runs -1");
}
TEST(CliArgs, MaxTimeIsForRunsAuto) {
    expect_usage_error({"startup", "--lxc", "--max-time", "60"}, "--max-time caps --runs auto");
    expect_usage_error({"io", "--native", "--runs", "3", "--max-time", "60"}, "--max-time caps --runs auto");
    expect_usage_error({"io", "--native", "--runs", "auto", "--max-time", "0"}, "--max-time");
    expect_usage_error({"startup", "--lxc", "--runs", "auto", "--max-time", "nan"}, "--max-time");
}
TEST(CliArgs, NoTechnique) { expect_usage_error({"startup", "--runs", "3"}, "choose at least one technique"); }

TEST(CliArgs, HelpShowsExamples) {
    BinaryResult r = run_hypetrace({"startup", "--help"});
    EXPECT_EQ(r.code, 0);
    EXPECT_NE(r.out.find("Examples:"), std::string::npos);
    EXPECT_NE(r.out.find("--accel"), std::string::npos);
}

TEST(CliArgs, HelpOfStartupAndIoShowsRunsAuto) {
    for (const std::string cmd : {"startup", "io"}) {
        BinaryResult r = run_hypetrace({cmd, "--help"});
        EXPECT_EQ(r.code, 0);
        EXPECT_NE(r.out.find("--runs N|auto"), std::string::npos) << r.out;
        EXPECT_NE(r.out.find("--max-time"), std::string::npos) << r.out;
    }
}

TEST(CliArgs, Version) {
    BinaryResult r = run_hypetrace({"--version"});
    EXPECT_EQ(r.code, 0);
    EXPECT_NE(r.out.find("hypetrace "), std::string::npos);
}

TEST(CliArgs, MemoryNeedsATechnique) { expect_usage_error({"memory", "--count", "1,2"}, "choose at least one technique"); }
TEST(CliArgs, MemoryBadCount) { expect_usage_error({"memory", "--lxc", "--count", "1,two"}, "--count"); }
TEST(CliArgs, MemoryZeroCount) { expect_usage_error({"memory", "--lxc", "--count", "0,2"}, "--count"); }
TEST(CliArgs, MemoryBadKsm) { expect_usage_error({"memory", "--kvm", "--ksm", "maybe"}, "maybe"); }
TEST(CliArgs, MemoryBadRootfs) { expect_usage_error({"memory", "--lxc", "--rootfs", "nfs"}, "nfs"); }
TEST(CliArgs, MemoryBadDriver) { expect_usage_error({"memory", "--kvm", "--driver", "xen"}, "xen"); }
TEST(CliArgs, DevicesUnknownSet) { expect_usage_error({"devices", "--sets", "no-video,no-floppy"}, "no-floppy"); }
TEST(CliArgs, DevicesZeroGuests) { expect_usage_error({"devices", "--guests", "0"}, "--guests"); }
TEST(CliArgs, StartupLibvirtIsFullVmsOnly) {
    expect_usage_error({"startup", "--kvm-app", "--driver", "libvirt"}, "--driver libvirt");
}

TEST(CliArgs, MemoryHelpShowsExamplesAndKsmPromise) {
    BinaryResult r = run_hypetrace({"memory", "--help"});
    EXPECT_EQ(r.code, 0);
    EXPECT_NE(r.out.find("Examples:"), std::string::npos);
    EXPECT_NE(r.out.find("restores every"), std::string::npos) << r.out;
}
