// SPDX-License-Identifier: MIT
// The bad-input matrix (issue 13): every subcommand x every option with a value, given values it
// must refuse (negative, zero where not allowed, huge, not a number, a path that does not exist,
// is a directory or is unwritable, a name with '/', '..', ',' or a newline). Each case: exit 1
// or 2, one line on stderr naming the option or the bad value, and nothing left behind (no guest,
// no BPF program, no changed host setting, no new file). Prints how many cases were tried.
#include "common.h"
#include "host_snapshot.h"
#include "core/host/host_settings.h"
#include "core/base/text.h"

#include <filesystem>
#include <set>

namespace fs = std::filesystem;

namespace {

struct Case {
    std::vector<std::string> args;  // after the binary
    std::string option;             // the option under test ("" for a positional)
    std::string value;
};

std::vector<Case> matrix(const std::string& tmp) {
    const std::string missing_dir = "/nonexistent-ht/dir", a_file = tmp + "/file", not_empty = tmp;
    const std::vector<std::string> counts = {"-1", "abc", "1e300", "99999999999", ""};
    const std::vector<std::string> seconds = {"-1", "0", "abc", "1e300", "1e12", "nan", "inf", ""};
    const std::vector<std::string> outputs = {missing_dir + "/x.json", "/", "/proc/ht-x.json"};
    const std::vector<std::string> image_dirs = {missing_dir, a_file, tmp + "/a,b", tmp + "/new\nline"};
    const std::vector<std::string> names = {"../../sshd", "a/b", "..", "x\ny", "a,b"};
    const std::vector<std::string> enums = {"bogus", ""};
    std::vector<Case> out;
    auto add = [&](std::vector<std::string> base, const std::string& opt, const std::vector<std::string>& values) {
        for (const auto& v : values) {
            Case c;
            c.args = base;
            c.args.push_back(opt);
            c.args.push_back(v);
            c.option = opt;
            c.value = v;
            out.push_back(c);
        }
    };
    const std::vector<std::string> startup = {"startup", "--native"};
    add(startup, "--runs", counts);
    add(startup, "--runs", {"0", "1001", "auto2", "Auto", "+5"});
    add({"startup", "--native", "--runs", "auto"}, "--max-time", seconds);
    add(startup, "--warmup", counts);
    add(startup, "--timeout", seconds);
    add(startup, "--json", outputs);
    add(startup, "--trace", {missing_dir + "/t", not_empty, a_file});
    add({"startup", "--kvm"}, "--images", image_dirs);
    add({"startup", "--kvm"}, "--accel", enums);
    add({"startup", "--kvm"}, "--driver", enums);
    add({"startup", "--kvm"}, "--restore", {"bogus", "lazy2"});
    add({"startup", "--kvm", "--restore"}, "--checkpoint-dir", {a_file, tmp + "/new\nline", ""});
    const std::vector<std::string> memory = {"memory", "--lxc-app"};
    add(memory, "--count", {"0", "abc", "1,,2", "-1", "1e300", "100000", ""});
    add(memory, "--ksm", enums);
    add(memory, "--rootfs", enums);
    add(memory, "--thp", enums);
    add(memory, "--boot-timeout", seconds);
    add(memory, "--settle-timeout", seconds);
    add(memory, "--settle-window", {"0", "-1", "1e300", "abc"});
    add(memory, "--settle-merges", {"-1", "abc", "1e300"});
    add(memory, "--ksm-pages-to-scan", {"0", "-1", "abc", "1e300"});
    add(memory, "--ksm-sleep-ms", {"0", "-1", "abc", "1e300"});
    add(memory, "--json", outputs);
    add(memory, "--plot", outputs);
    add(memory, "--images", image_dirs);
    add({"memory", "--kvm"}, "--guest-kernels", {"6.2", "default", "bogus,default", "", "default,default", "6.1"});
    add({"memory", "--kvm", "--lxc"}, "--guest-kernels", {"all"});
    add({"memory", "--kvm", "--count", "1,2"}, "--guest-kernels", {"all"});
    add({"memory", "--kvm", "--ksm", "both"}, "--guest-kernels", {"all"});
    const std::vector<std::string> devices = {"devices"};
    add(devices, "--guests", {"0", "-1", "abc", "1e300"});
    add(devices, "--sets", enums);
    add(devices, "--thp", enums);
    add(devices, "--boot-timeout", seconds);
    add(devices, "--settle-timeout", seconds);
    add(devices, "--json", outputs);
    add(devices, "--images", image_dirs);
    add({"dedup"}, "--pid", {"0", "-1", "abc", "4294967297", "99999999999999999999", ""});
    add({"dedup"}, "--guest", names);
    add({"dedup", "--pid", "1"}, "--vs-guest", names);
    const std::vector<std::string> dedup_kvm = {"dedup", "--kvm"};
    add(dedup_kvm, "--guests", {"0", "-1", "17", "abc"});
    add(dedup_kvm, "--quiesce", {"-1", "abc", "1e300", "1e12"});
    add(dedup_kvm, "--boot-timeout", seconds);
    add(dedup_kvm, "--ksm-timeout", seconds);
    add(dedup_kvm, "--thp", enums);
    add(dedup_kvm, "--driver", enums);
    add(dedup_kvm, "--json", outputs);
    add(dedup_kvm, "--images", image_dirs);
    add(dedup_kvm, "--image-files", {missing_dir, a_file});
    const std::vector<std::string> exitcost = {"exitcost"};
    add(exitcost, "--ops", {"0", "9", "-1", "abc", "1e300"});
    add(exitcost, "--sectors", {"-1", "abc", "1e300"});
    add(exitcost, "--hlts", {"-1", "abc", "1e300"});
    add(exitcost, "--runs", {"0", "-1", "abc"});
    add(exitcost, "--timeout", seconds);
    add(exitcost, "--json", outputs);
    const std::vector<std::string> io = {"io", "--native"};
    add(io, "--runs", {"0", "-1", "abc", "101", "auto2"});
    add({"io", "--native", "--runs", "auto"}, "--max-time", seconds);
    add(io, "--runtime", {"0", "-1", "abc", "3601", "1e300"});
    add(io, "--job", {missing_dir + "/j.fio", "/", tmp + "/bad\nname.fio"});
    add({"io", "--kvm"}, "--boot-timeout", seconds);
    add({"io", "--kvm"}, "--images", image_dirs);
    add(io, "--json", outputs);
    const std::vector<std::string> density = {"density", "--lxc"};
    add(density, "--per-core", {"0", "abc", "1,,2", "-1", "1e300", "33", ""});
    add(density, "--runs", {"0", "-1", "abc", "101"});
    add(density, "--warmup", {"-1", "abc", "11"});
    add(density, "--cpus", {"0", "-1", "abc", "5000"});
    add(density, "--bench", enums);
    add(density, "--bench-size", {"abc", "-1", "1e3"});
    add(density, "--boot-timeout", seconds);
    add(density, "--run-timeout", seconds);
    add(density, "--json", outputs);
    add(density, "--images", image_dirs);
    add({"flamegraph", tmp}, "--of", enums);
    add({"flamegraph", tmp}, "--format", enums);
    out.push_back({{"flamegraph", missing_dir}, "", missing_dir});
    out.push_back({{"flamegraph", a_file}, "", a_file});
    out.push_back({{"timeline", missing_dir}, "", missing_dir});
    out.push_back({{"timeline", tmp}, "", tmp});
    out.push_back({{"record", "-o", missing_dir + "/t", "--", "startup", "--native"}, "-o", missing_dir + "/t"});
    out.push_back({{"record", "-o", tmp + "/r", "--", "bogus"}, "", "bogus"});
    out.push_back({{"bogus"}, "", "bogus"});
    out.push_back({{"startup", "--native", "--restore"}, "--restore", ""});     // nothing to restore
    out.push_back({{"startup", "--kvm-bios", "--restore"}, "--restore", ""});   // no state worth saving
    out.push_back({{"startup", "--kvm", "--driver", "libvirt", "--restore", "lazy"}, "--restore", ""});  // libvirt names the RAM file itself
    return out;
}

}  // namespace

TEST(BadInput, EveryOptionRefusesBadValuesInOneLineAndLeavesNothing) {
    HT_REQUIRE_ROOT();
    const TestTempDir scratch("/tmp/ht-bad-XXXXXX");
    const std::string tmp = scratch.path;
    std::ofstream(tmp + "/file") << "not a directory\n";
    const HostSnapshot before = HostSnapshot::take();
    std::size_t tried = 0;
    std::string failures;  // one line per case that was not refused as it should be
    for (const auto& c : matrix(tmp)) {
        ++tried;
        std::string shown;
        for (const auto& a : c.args) shown += " " + ht::visible(a);
        BinaryResult r = run_hypetrace(c.args);
        std::string why;
        if (r.code != 1 && r.code != 2) why += " exit " + std::to_string(r.code) + ";";
        if (r.lines(r.err) != 1) why += " " + std::to_string(r.lines(r.err)) + " lines;";
        const bool names_it = (!c.option.empty() && r.err.find(c.option) != std::string::npos) ||
                              (!c.value.empty() && r.err.find(c.value) != std::string::npos) ||
                              (!c.value.empty() && r.err.find(ht::visible(c.value)) != std::string::npos);
        if (!names_it) why += " names neither the option nor the value;";
        if (auto left = HostSnapshot::take().changes_since(before); !left.empty())
            why += " left something behind: " + ht::visible(left) + ";";
        if (!why.empty()) failures += "hypetrace" + shown + ":" + why + " stderr: " + ht::visible(r.err.substr(0, 240)) + "\n";
    }
    EXPECT_TRUE(failures.empty()) << failures;
    std::cout << "bad-input matrix: " << tried << " cases tried" << std::endl;
    EXPECT_GT(tried, 150u);
}
