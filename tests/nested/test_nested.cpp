// SPDX-License-Identifier: MIT
// The nested suite: runs inside the nested lab (scripts/test-nested.sh), a Debian 12 system with
// the distribution's stock kernel (6.1, kvm and kvm_amd as modules, cgroup v2, no ksm:*
// tracepoints) under QEMU TCG with emulated AMD-V, so KVM there is real hardware-style KVM and
// kvm:kvm_exit fires. Each test checks hypetrace against the peer tool on the same run.
// Outside a lab (no svm, or not root) every test is skipped with the reason.
#include "../run_binary.h"
#include "core/host.h"
#include "core/kvm_names.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <regex>

namespace {

#define NEEDS_LAB()                                                                                   \
    do {                                                                                              \
        if (geteuid() != 0) GTEST_SKIP() << "needs root";                                             \
        ht::HostInfo h = ht::probe_host();                                                            \
        if (h.virt_flag != "svm" || !h.kvm_device)                                                    \
            GTEST_SKIP() << "not in the nested lab (no svm or no /dev/kvm): scripts/test-nested.sh runs this suite"; \
    } while (0)

// Runs argv with stdout+stderr into one text, returns exit code.
int run_all(const std::vector<std::string>& argv, std::string* text) {
    char tmpl[] = "/tmp/ht-nested-XXXXXX";
    std::string dir = mkdtemp(tmpl);
    ht::SpawnOptions o;
    o.stdout_path = dir + "/out";
    o.stderr_path = dir + "/out";
    ht::Child c = ht::spawn(argv, o);
    int st = 0;
    waitpid(c.pid, &st, 0);
    *text = ht_slurp(dir + "/out");
    std::filesystem::remove_all(dir);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

struct PerfRow {
    uint64_t samples = 0;
    double min_us = 0, max_us = 0, avg_us = 0;
};

// `perf kvm stat report --event=vmexit` text: one row per exit reason, named as the kernel names it.
std::map<std::string, PerfRow> parse_perf_vmexit(const std::string& text) {
    std::map<std::string, PerfRow> rows;
    std::regex re(R"(^\s*(\S.*?)\s+(\d+)\s+[\d.]+%\s+[\d.]+%\s+([\d.]+)us\s+([\d.]+)us\s+([\d.]+)us)");
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        std::smatch m;
        if (!std::regex_search(line, m, re)) continue;
        PerfRow r{std::stoull(m[2]), std::stod(m[3]), std::stod(m[4]), std::stod(m[5])};
        rows[m[1]] = r;
    }
    return rows;
}

// perf 6.1 cuts reason names to 19 characters.
std::string perf_name(uint32_t isa, uint32_t reason) { return ht::kvm_exit_reason_trace_name(isa, reason).substr(0, 19); }

std::string lab_out() {
    const char* o = getenv("HYPETRACE_LAB_OUT");
    return o ? o : "/tmp";
}

}  // namespace

TEST(Lab, HostChoosesKvmAndTracesExitsFromTheKvmModule) {
    NEEDS_LAB();
    auto r = run_hypetrace({"host", "--json"});
    ASSERT_EQ(r.code, 0) << r.err;
    auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["accel_auto"], "kvm") << j["accel_reason"];
    EXPECT_NE(j.value("kvm_cpu", "").find("-cpu host"), std::string::npos) << j.dump(2);
    std::map<std::string, nlohmann::json> src;
    for (const auto& s : j["trace_sources"]) src[s["name"]] = s;
    ASSERT_TRUE(src.count("kvm:kvm_exit")) << j.dump(2);
    EXPECT_TRUE(src["kvm:kvm_exit"]["attached"].get<bool>()) << src["kvm:kvm_exit"].dump();
    EXPECT_TRUE(src["kvm:kvm_entry"]["attached"].get<bool>()) << src["kvm:kvm_entry"].dump();
    // kvm is a module here: its tracepoints' BTF is in /sys/kernel/btf/kvm, not vmlinux
    for (const char* tp : {"kvm:kvm_mmio", "kvm:kvm_userspace_exit"})
        EXPECT_EQ(src[tp]["attach"], "tp_btf") << src[tp].dump();
    // 6.1's verifier refuses tp_btf access to kvm_pio's `const void *data` (later kernels take
    // it): that source alone falls back to raw_tp and says why; the others keep tp_btf
    EXPECT_TRUE(src["kvm:kvm_pio"]["attached"].get<bool>());
    if (src["kvm:kvm_pio"]["attach"] != "tp_btf") {
        EXPECT_NE(src["kvm:kvm_pio"]["note"].get<std::string>().find("tp_btf refused"), std::string::npos)
            << src["kvm:kvm_pio"].dump();
    }
    for (const char* tp : {"sched:sched_process_exec", "sched:sched_process_fork", "exceptions:page_fault_user"})
        EXPECT_EQ(src[tp]["attach"], "tp_btf") << src[tp].dump();
    // 6.1 has no ksm:* tracepoints: each is named missing, with the fallback it leaves
    for (const char* tp : {"ksm:ksm_stop_scan", "ksm:ksm_merge_one_page"}) {
        EXPECT_FALSE(src[tp]["attached"].get<bool>()) << src[tp].dump();
        EXPECT_NE(src[tp]["note"].get<std::string>().find("not in this kernel"), std::string::npos) << src[tp].dump();
    }
}

// exitcost under real AMD-V: every exit reason counted as perf kvm stat counts it on the same run,
// and the time per exit (kvm_exit to the next kvm_entry, as perf measures it) within 10 %.
TEST(Lab, ExitcostByReasonEqualsPerfKvmStat) {
    NEEDS_LAB();
    const std::string dir = lab_out() + "/exitcost";
    std::filesystem::create_directories(dir);
    const std::string data = dir + "/perf.data", json = dir + "/exitcost.json";
    std::string rec;
    int rc = run_all({"perf", "kvm", "stat", "record", "-o", data, HYPETRACE_BIN, "exitcost", "--ops", "300",
                      "--sectors", "10", "--hlts", "30", "--runs", "1", "--accel", "kvm", "--json", json},
                     &rec);
    ASSERT_EQ(rc, 0) << rec;
    {
        std::ofstream(dir + "/exitcost.txt") << rec;
    }
    std::string rep;
    ASSERT_EQ(run_all({"perf", "kvm", "-i", data, "stat", "report", "--event=vmexit"}, &rep), 0) << rep;
    std::ofstream(dir + "/perf-report.txt") << rep;
    auto perf = parse_perf_vmexit(rep);
    ASSERT_FALSE(perf.empty()) << rep;

    auto j = nlohmann::json::parse(ht_slurp(json));
    ASSERT_TRUE(j["kvm_exit_fired"].get<bool>());
    std::map<uint64_t, uint64_t> count, ns;  // key: reason | isa << 32
    for (const auto& ph : j["all_phases"]) {
        for (const auto& e : ph["kvm_exits"]) count[e["key"].get<uint64_t>()] += e["count"].get<uint64_t>();
        for (const auto& e : ph["kvm_exit_ns"]) ns[e["key"].get<uint64_t>()] += e["count"].get<uint64_t>();
    }
    ASSERT_FALSE(count.empty());
    // perf counts an exit once KVM re-enters the guest; the payload's last exit (its OUT to
    // isa-debug-exit, which ends QEMU) never re-enters, so hypetrace has exactly one io exit more.
    uint64_t extra = 0;
    std::ostringstream table;
    for (const auto& [k, n] : count) {
        const uint32_t isa = uint32_t(k >> 32), reason = uint32_t(k);
        EXPECT_EQ(isa, ht::kIsaSvm);
        const std::string name = perf_name(isa, reason);
        const PerfRow p = perf.count(name) ? perf[name] : PerfRow{};
        table << ht::kvm_exit_reason_name(isa, reason) << " (" << name << "): hypetrace " << n << ", "
              << (ns.count(k) ? double(ns[k]) / 1e3 / double(p.samples ? p.samples : n) : 0.0) << " us; perf "
              << p.samples << ", " << p.avg_us << " us\n";
        if (reason == ht::kSvmIoio && n == p.samples + 1) {
            ++extra;
        } else {
            EXPECT_EQ(n, p.samples) << name;
        }
        if (p.samples >= 20 && ns.count(k)) {  // the mean over the exits that re-entered
            const double ours = double(ns[k]) / 1e3 / double(p.samples);
            EXPECT_NEAR(ours, p.avg_us, p.avg_us * 0.10) << name << ": hypetrace " << ours << " us, perf " << p.avg_us;
        }
    }
    for (const auto& [name, p] : perf) {
        bool ours = false;
        for (const auto& [k, n] : count) ours = ours || perf_name(uint32_t(k >> 32), uint32_t(k)) == name;
        EXPECT_TRUE(ours) << "perf saw " << p.samples << " " << name << " exits hypetrace did not";
    }
    EXPECT_LE(extra, 1u);
    std::ofstream(dir + "/compare.txt") << table.str();
    std::cout << table.str();
}
