// SPDX-License-Identifier: MIT
// Faults (issue 13): SIGINT, SIGTERM and SIGKILL at seeded random points of each experiment. After
// SIGINT or SIGTERM the run itself must leave the host as it was (exit 130 or 143, no result file);
// after SIGKILL the next run's repair or `hypetrace cleanup` (alternately) must. "As it was" is one
// snapshot (host_snapshot.h): KSM, THP, inotify, QEMU, LXC, libvirt domains, BPF programs and
// links, mounts, scratch directories. HT_FAULT_SEED=N replays a run's points (the seed is printed),
// HT_FAULT_ONLY=NAME keeps the experiments whose name holds NAME. exitcost needs /dev/kvm: it is
// tried where the host has it (the nested lab runs this test with HT_FAULT_ONLY=exitcost), its
// typical duration measured by one run without a signal first, since nested KVM's pace varies.
#include "common.h"
#include "host_snapshot.h"
#include "core/base/text.h"
#include "core/tracing/trace_dir.h"

#include <nlohmann/json.hpp>

#include <csignal>
#include <filesystem>
#include <iomanip>
#include <map>
#include <random>

namespace fs = std::filesystem;

namespace {

struct Experiment {
    std::string name;
    std::vector<std::string> args;  // after the binary; the result goes to --json (or -o for record)
    double typical_s;               // about how long it runs here (its points fall before that);
                                    // 0: measured by one complete run first
    bool result_is_dir = false;
};

const char* signal_name(int s) { return s == SIGINT ? "SIGINT" : s == SIGTERM ? "SIGTERM" : "SIGKILL"; }

// Whether a result is whole: JSON that parses, or a trace directory that reads back.
bool complete(const std::string& path, bool is_dir) {
    try {
        if (is_dir) return ht::read_trace_dir(path), true;
        return nlohmann::json::accept(ht_slurp(path));
    } catch (const std::exception&) {
        return false;
    }
}

}  // namespace

TEST(Faults, SignalsAtSeededPointsOfEachExperimentLeaveTheHostAsItWas) {
    HT_REQUIRE_ROOT();
    const char* env = std::getenv("HT_FAULT_SEED");
    const unsigned seed = env ? unsigned(std::strtoul(env, nullptr, 10)) : 20261202u;
    std::mt19937 rng(seed);
    std::cout << "fault injection: seed " << seed << " (HT_FAULT_SEED=" << seed << " replays these points)" << std::endl;

    ASSERT_EQ(run_hypetrace({"cleanup"}).code, 0);  // what earlier tests may have left is not this test's
    const HostSnapshot before = HostSnapshot::take();
    const TestTempDir tmp("/tmp/ht-faults-XXXXXX");
    const std::string dir = tmp.path;
    const std::vector<Experiment> experiments = {
        {"startup --kvm (TCG)", {"startup", "--kvm", "--accel", "tcg", "--runs", "2", "--warmup", "0", "-q"}, 30},
        {"startup --lxc", {"startup", "--lxc", "--runs", "5", "--warmup", "0", "-q"}, 3.5},
        {"memory --lxc-app --ksm on", {"memory", "--lxc-app", "--count", "1,2", "--ksm", "on", "-q"}, 6},
        {"devices (libvirt)", {"devices", "--guests", "1", "--sets", "default", "--accel", "tcg", "-q"}, 20},
        {"dedup --lxc", {"dedup", "--lxc", "--guests", "1", "--quiesce", "1", "--no-host", "-q"}, 2.4},
        {"io --lxc --native", {"io", "--lxc", "--native", "--runs", "1", "--runtime", "2", "-q"}, 10},
        {"density --lxc --native", {"density", "--lxc", "--native", "--per-core", "2", "--runs", "2", "-q"}, 5},
        {"record startup", {"record", "-o", "", "--", "startup", "--lxc-app", "--native", "--runs", "5", "-q"}, 2.5, true},
        {"exitcost (KVM)", {"exitcost", "--runs", "1", "--ops", "300", "--sectors", "10", "--hlts", "30", "-q"}, 0},
    };
    const std::vector<std::vector<std::string>> repairs = {{"cleanup"},
                                                           {"startup", "--native", "--runs", "1", "--warmup", "0", "-q"}};
    std::size_t injected = 0, finished_first = 0, kills = 0, tried = 0;
    std::string failures;
    std::cout << std::left << std::setw(28) << "experiment" << std::setw(9) << "signal" << std::setw(9) << "at (s)"
              << std::setw(7) << "exit" << "host afterwards" << std::endl;
    const char* only = std::getenv("HT_FAULT_ONLY");  // a part of an experiment's name: only those
    for (const auto& e : experiments) {
        std::map<int, double> points;  // drawn for every experiment, so HT_FAULT_ONLY keeps a seed's points
        for (int sig : {SIGINT, SIGTERM, SIGKILL})  // a fraction of the run where its time is measured here
            points[sig] = e.typical_s > 0 ? std::uniform_real_distribution<double>(0.2, e.typical_s)(rng)
                                          : std::uniform_real_distribution<double>(0.05, 0.95)(rng);
        if (only && e.name.find(only) == std::string::npos) continue;
        if (e.args[0] == "exitcost" && access("/dev/kvm", R_OK | W_OK) != 0) {
            std::cout << std::setw(28) << e.name << "not tried: this host has no /dev/kvm" << std::endl;
            continue;
        }
        if (e.typical_s <= 0) {
            const auto t0 = std::chrono::steady_clock::now();
            BinaryResult full = run_hypetrace(e.args);
            const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            ASSERT_EQ(full.code, 0) << e.name << " without a signal failed: " << full.err;
            for (auto& [sig, at] : points) at *= took;
            std::cout << std::setw(28) << e.name << "a complete run takes " << std::fixed << std::setprecision(2) << took
                      << " s here" << std::endl;
        }
        ++tried;
        for (int sig : {SIGINT, SIGTERM, SIGKILL}) {
            const double at = points[sig];
            const std::string result = dir + "/result-" + std::to_string(injected);
            std::vector<std::string> args = e.args;
            if (e.result_is_dir) *std::find(args.begin(), args.end(), "") = result;
            else args.insert(args.end(), {"--json", result});
            AsyncHypetrace h(args);
            std::this_thread::sleep_for(std::chrono::duration<double>(at));
            siginfo_t si{};  // whether it has ended, without reaping it (wait() needs its status)
            const bool was_running = waitid(P_PID, id_t(h.pid), &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
                                     si.si_pid == 0 && kill(h.pid, sig) == 0;
            BinaryResult r = h.wait();
            ++injected;
            std::string why, repaired_by;
            if (!was_running || r.code == 0) {
                ++finished_first;  // it ended before the point: a complete result, nothing left
                if (r.code != 0) why += " exited " + std::to_string(r.code) + " before the signal;";
            } else if (sig == SIGKILL) {
                ++kills;
                const auto& repair = repairs[kills % repairs.size()];
                BinaryResult c = run_hypetrace(repair);
                repaired_by = repair[0] == "cleanup" ? "hypetrace cleanup" : "the next run";
                if (c.code != 0) why += " " + repaired_by + " failed (" + std::to_string(c.code) + "): " + ht::visible(c.err) + ";";
            } else {
                const int want = sig == SIGINT ? 130 : 143;
                if (r.code != want)
                    why += " exit " + std::to_string(r.code) + ", not " + std::to_string(want) + " (it said: " +
                           ht::visible(ht::last_line(r.err)) + ");";
                if (r.err.find("interrupted") == std::string::npos) why += " no 'interrupted' line;";
            }
            // SIGINT and SIGTERM are looked at only between steps, and the result is the last step:
            // an interrupted run writes none. SIGKILL can land after the result was renamed into
            // place and before the exit: then it must be whole.
            const bool killed_after_result = was_running && sig == SIGKILL && fs::exists(result);
            if (killed_after_result && !complete(result, e.result_is_dir)) why += " a SIGKILLed run left an incomplete result;";
            if (was_running && r.code != 0 && fs::exists(result) && sig != SIGKILL)
                why += " a result was written by an interrupted run;";
            std::error_code ec;
            for (const auto& f : fs::directory_iterator(dir, ec))
                if (f.path() != result || (r.code != 0 && !killed_after_result)) why += " left " + f.path().string() + ";";
            fs::remove_all(result, ec);
            // Processes take a moment to be reaped, libvirt to destroy a domain whose connection died.
            std::string left;
            for (auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);;) {
                if ((left = HostSnapshot::take().changes_since(before)).empty() || std::chrono::steady_clock::now() > deadline)
                    break;
                std::this_thread::sleep_for(std::chrono::milliseconds(200));
            }
            if (!left.empty()) why += " host changed:\n" + left;
            const std::string outcome = !was_running || r.code == 0 ? "finished first; as it was"
                                        : repaired_by.empty()       ? "as it was"
                                        : killed_after_result       ? "killed after its whole result; as it was after " + repaired_by
                                                                    : "as it was after " + repaired_by;
            std::cout << std::setw(28) << e.name << std::setw(9) << signal_name(sig) << std::setw(9)
                      << std::fixed << std::setprecision(2) << at << std::setw(7) << r.code
                      << (why.empty() ? outcome : "NOT as it was:" + why) << std::endl;
            if (!why.empty()) {
                failures += e.name + ", " + signal_name(sig) + " at " + std::to_string(at) + " s:" + why + "\n";
                run_hypetrace({"cleanup"});  // the next point starts from a clean host
            }
        }
    }
    std::cout << "fault injection: " << injected << " points in " << tried << " experiments, "
              << finished_first << " after the run had finished, " << kills << " SIGKILLs repaired" << std::endl;
    EXPECT_TRUE(failures.empty()) << failures;
    EXPECT_GE(injected - finished_first, injected / 2) << "most points should fall inside a run (typical_s too long here?)";
    EXPECT_GT(injected, 0u);
}
