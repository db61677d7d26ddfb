// SPDX-License-Identifier: MIT
// Parsers of outside text on what fuzzing them (tests/fuzz) and reading them for it turned up: each
// case here failed before its fix (an exception other than UserError, which the binary reports as
// "internal error"; a wrapped number; a range that ends before it starts).
#include "core/base/error.h"
#include "core/views/flamegraph.h"
#include "core/memscan/pagescan.h"
#include "core/host/proc.h"
#include "core/tracing/symbols.h"
#include "core/tracing/trace_dir.h"
#include "drivers/qemu/qmp.h"
#include "experiments/fio_result.h"

#include <gtest/gtest.h>

using namespace ht;

TEST(OutsideText, QmpLinesThatAreNotMessagesAreUserErrors) {
    EXPECT_EQ(qmp_reply(R"({"return": {"status": "running"}})", "query-status")->at("status"), "running");
    EXPECT_FALSE(qmp_reply(R"({"event": "RESUME", "timestamp": {}})", "cont").has_value());
    EXPECT_FALSE(qmp_reply(R"({"QMP": {"version": {}}})", "cont").has_value());
    EXPECT_FALSE(qmp_reply(" \r", "cont").has_value());
    // A line cut short, a JSON array, an error that is no object: each threw nlohmann's exceptions.
    for (const char* line : {R"({"return": )", "[1, 2]", R"({"error": "boom"})", R"({"error": {"desc": 7}})"})
        EXPECT_THROW(qmp_reply(line, "cont"), UserError) << line;
    try {
        qmp_reply(R"({"error": {"class": "GenericError", "desc": "no such device"}})", "device_del");
        FAIL();
    } catch (const UserError& e) {
        EXPECT_STREQ(e.what(), "QMP device_del: no such device");
    }
}

TEST(OutsideText, FioJsonOfTheWrongShapeReadsAsAbsent) {
    // A job name that is a number, an error that is a string, a job that is no object: threw
    // nlohmann's type errors.
    auto jobs = parse_fio_json(R"(noise {"jobs": [{"jobname": 5, "error": "x", "read": {"iops": "1",
        "clat_ns": {"percentile": []}}}, 3, null, {"jobname": "j", "write": {"iops": 100.5, "bw": 400,
        "clat_ns": {"percentile": {"99.000000": 2000}}}}]})");
    ASSERT_EQ(jobs.size(), 2u);
    EXPECT_EQ(jobs[0].name, "?");
    EXPECT_EQ(jobs[0].error, 0);
    EXPECT_EQ(jobs[0].read_iops, 0);
    EXPECT_EQ(jobs[1].name, "j");
    EXPECT_DOUBLE_EQ(jobs[1].write_iops, 100.5);
    EXPECT_DOUBLE_EQ(jobs[1].write_p99_us, 2.0);
    EXPECT_TRUE(parse_fio_json(R"({"jobs": {"a": 1}})").empty());
    EXPECT_TRUE(parse_fio_json("[]").empty());
}

TEST(OutsideText, TraceJsonOfTheWrongShapeIsRefusedInOneLine) {
    TraceTexts x;
    for (const char* meta : {"[]", "\"hypetrace-trace\"", R"({"format": 5})", R"({"format": "hypetrace-trace"})",
                             R"({"format": "hypetrace-trace", "version": "1"})"}) {
        x.meta = meta;
        EXPECT_THROW(parse_trace_texts(x, "d"), UserError) << meta;
    }
    // Members of the wrong type read as absent (they threw type errors).
    x.meta = R"({"format": "hypetrace-trace", "version": 1, "guests": [3, {"id": "x", "name": 4}, {"id": 2,
        "name": "LXC run 1"}], "spans": {"a": 1}, "profile": [1]})";
    TraceData t = parse_trace_texts(x, "d");
    EXPECT_EQ(t.guests.at(2), "LXC run 1");
    EXPECT_TRUE(t.spans.empty());
    // A stack id far past the file's lines: allocated 100 million stacks (2.4 GB) before.
    x.stacks = "99999999\ta;b\n";
    EXPECT_THROW(parse_trace_texts(x, "d"), UserError);
    x.stacks = "1\ta;b\n2\tc\n";
    EXPECT_EQ(parse_trace_texts(x, "d").profile.stacks.size(), 3u);
}

TEST(OutsideText, FoldedCountsPastWhatADoubleHoldsAreRefused) {
    EXPECT_EQ(parse_folded("a;b 9007199254740992\n").at(0).count, 9007199254740992u);
    // These wrapped around 2^64 and the SVG's shares overflowed a float-to-int conversion.
    EXPECT_THROW(parse_folded("z 18446744073709551615\n"), UserError);
    EXPECT_THROW(parse_folded("a 9007199254740992\nb 1\n"), UserError);
}

TEST(OutsideText, NumbersThatWrapAreNoPidsCpusOrRanges) {
    EXPECT_EQ(parse_pid_list("4294967297\n5\n-3\n"), (std::vector<pid_t>{5}));  // read as pid 1 before
    auto maps = parse_maps("7f00-7e00 r-xp 00000000 08:01 5 /lib/x\n1000-2000 r--p 00000000 00:00 0\n");
    ASSERT_EQ(maps.size(), 1u);  // the range ending before its start was walked page by page
    EXPECT_EQ(maps[0].start, 0x1000u);
    EXPECT_TRUE(parse_exec_mappings("7f00-7e00 r-xp 00000000 08:01 5 /lib/x\n").empty());
    auto io = parse_proc_io("rchar: 12\nwchar: -4\nsyscr: 99999999999999999999999\nread_bytes: 7x\ncancelled_write_bytes: 3\n");
    EXPECT_EQ(io, (std::map<std::string, uint64_t>{{"rchar", 12}, {"cancelled_write_bytes", 3}}));
}

TEST(OutsideText, KallsymsLinesWithoutANameAreNoSymbols) {
    // The empty name became an empty frame in every flame graph.
    KernelSymbols k = KernelSymbols::parse("ffffffff81000000 T start\nffffffff81000100 T \nffffffff81000200 t x\t[kvm]\n");
    EXPECT_EQ(k.size(), 2u);
    EXPECT_EQ(k.name(0xffffffff81000150), "start");
    EXPECT_EQ(k.name(0xffffffff81000200), "x [kvm]");
}

// Where hypetrace moves itself back after liblxc's start put it in a container's monitor cgroup:
// every hierarchy, v1 ones matched by their controllers, paths under a mount's root.
TEST(OutsideText, CgroupDirsOfAProcessOnHybridAndUnifiedHosts) {
    const std::string hybrid_mounts =
        "30 25 0:26 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n"
        "31 25 0:27 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd\n"
        "34 25 0:30 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
        "35 25 0:31 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n";
    EXPECT_EQ(cgroup_dirs("4:pids:/user.slice\n3:cpu,cpuacct:/\n1:name=systemd:/user.slice/s.scope\n0::/user.slice/s.scope\n",
                          hybrid_mounts),
              (std::vector<std::string>{"/sys/fs/cgroup/pids/user.slice", "/sys/fs/cgroup/cpu,cpuacct/",
                                        "/sys/fs/cgroup/systemd/user.slice/s.scope",
                                        "/sys/fs/cgroup/unified/user.slice/s.scope"}));
    EXPECT_EQ(cgroup_dirs("0::/a/b\n", "36 25 0:31 /a /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"),
              (std::vector<std::string>{"/sys/fs/cgroup/b"}));
    // a path that walks up, a hierarchy with no mount, a line that is no cgroup line: none
    EXPECT_TRUE(cgroup_dirs("0::/../etc\n9:memory:/x\nnonsense\n", hybrid_mounts).empty());
}
