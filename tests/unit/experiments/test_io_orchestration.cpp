// SPDX-License-Identifier: MIT
// run_io's orchestration with a fake tracer, fake guests that run their job the way the guest job
// channel does (the job directory handed over at create, the job's output on the "marks" stream
// between HYPETRACE-JOB-BEGIN and -END) and a fake native runner, both playing fio: each
// technique traced from begin_run to end_run, the spawner armed only around a start (or the
// native runner), fio's results read back per run and section, and every guest stopped and
// destroyed, its scratch directory removed, on every path (done, a guest that never starts its
// job, one that dies, a start that throws, a failed fio run, a native runner that fails).
#include "core/base/setting.h"
#include "experiments/io.h"
#include "fakes.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <thread>

namespace ht {
namespace {

const std::string kJob = "[global]\ntime_based=1\n\n[a]\nrw=randrw\n\n[b]\nrw=randread\n";

// One run's fio JSON: sections a (`a_reads` reads + 200 writes per second) and b (300 reads).
std::string fio_json(int a_reads = 100) {
    return R"({"jobs": [{"jobname": "a", "error": 0,
                 "read": {"iops": )" + std::to_string(a_reads) + R"(, "bw": 400, "clat_ns": {"percentile": {"50.000000": 1000, "99.000000": 9000}}},
                 "write": {"iops": 200, "bw": 800}},
                {"jobname": "b", "error": 0, "read": {"iops": 300, "bw": 1200}}]
})";  // fio's closing brace on a line of its own, as fio prints it
}

// What run.sh prints for its run `i`: fio's JSON with section a at `a_reads`, or fio's exit code
// `rc` and its stderr.
std::string one_run(unsigned i, int a_reads = 100, int rc = 0, const std::string& err = "") {
    return std::string(kIoResultBegin) + std::to_string(i) + " " + std::to_string(rc) + "\n" + fio_json(a_reads) + "\n" +
           err + kIoResultEnd + "\n";
}

// A job's output in pieces, one run each: section a's reads per second per run, in turn.
std::vector<std::string> runs_of(const std::vector<int>& a_reads) {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < a_reads.size(); ++i) out.push_back(one_run(unsigned(i + 1), a_reads[i]));
    return out;
}

std::string script_of(const std::filesystem::path& job_dir) {
    std::ifstream s(job_dir / "run.sh");
    return {std::istreambuf_iterator<char>(s), std::istreambuf_iterator<char>()};
}

// What run.sh prints for `runs` runs (the first with fio's exit code `rc` and its stderr).
std::string job_output(unsigned runs, int rc = 0, const std::string& err = "") {
    std::string out;
    for (unsigned i = 1; i <= runs; ++i) {
        out += std::string(kIoResultBegin) + std::to_string(i) + " " + std::to_string(i == 1 ? rc : 0) + "\n";
        out += fio_json() + "\n";
        if (i == 1) out += err;
        out += std::string(kIoResultEnd) + "\n";
    }
    return out;
}

struct IoRun {
    const TestTempDir scratch{fake::kTempDir};
    fake::Tracer tracer;
    fake::Driver driver;
    IoConfig cfg;
    std::vector<std::string> said;
    std::vector<std::string> jobs_seen;  // job.fio as each guest or the native runner found it
    explicit IoRun(fake::Boot boot) : driver(boot) {
        cfg.techniques = {{"fake", "Fake", &driver}};
        cfg.job_text = kJob;
        cfg.runs = 2;
        cfg.runtime_s = 1;
        cfg.scratch_parent = scratch.path;
        cfg.boot_timeout_s = 5;
        cfg.progress = [this](const std::string& line) { said.push_back(line); };
        driver.job = [this](const std::filesystem::path& dir) {
            take_job(dir);
            return std::pair<std::string, int>{job_output(cfg.runs), 0};
        };
        cfg.native_runner = [this](const std::filesystem::path& dir, const std::filesystem::path& out,
                                   const std::filesystem::path&, const std::function<bool()>& go_on) {
            EXPECT_TRUE(tracer.armed) << "the native runner must run with the spawner armed";
            EXPECT_FALSE(go_on) << "a number of runs: the runner waits for its job, as it always did";
            take_job(dir);
            std::ofstream(out, std::ios::app) << job_output(cfg.runs);
            return 0;
        };
    }
    void take_job(const std::filesystem::path& dir) {
        std::ifstream f(dir / "job.fio");
        jobs_seen.emplace_back(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
        std::ifstream s(dir / "run.sh");
        const std::string script{std::istreambuf_iterator<char>(s), std::istreambuf_iterator<char>()};
        EXPECT_NE(script.find("fio --output-format=json"), std::string::npos) << "run.sh runs fio";
        EXPECT_NE(script.find(std::string("echo \"") + kIoResultBegin), std::string::npos) << script;
    }
    IoResult run() { return run_io(tracer, HostInfo{}, cfg); }
    bool scratch_empty() const { return std::filesystem::is_empty(scratch.path); }
};

}  // namespace

TEST(IoOrchestration, EachTechniqueRunsItsJobTracedAndIsStoppedWithItsResultsReadBack) {
    IoRun r(fake::Boot::ready);
    r.cfg.techniques.push_back({"native", "native", nullptr});
    IoResult res = r.run();

    EXPECT_EQ(r.jobs_seen, (std::vector<std::string>{kJob, kJob}));  // the job handed to each, as given
    ASSERT_EQ(res.techniques.size(), 2u);
    for (const auto& t : res.techniques) {
        ASSERT_EQ(t.runs.size(), 2u) << t.technique.id;
        ASSERT_EQ(t.runs[0].size(), 2u);
        EXPECT_EQ(t.runs[0][0].name, "a");
        EXPECT_DOUBLE_EQ(t.ops_per_s.at("a").mean, 300);
        EXPECT_DOUBLE_EQ(t.ops_per_s.at("b").mean, 300);
        EXPECT_DOUBLE_EQ(t.p99_us.at("a").mean, 9);
        EXPECT_GE(t.job_s, 0);
    }
    EXPECT_EQ(r.said, (std::vector<std::string>{"[fake] booting", "[fake] ready; fio running (2 runs)",
                                                "[fake] done: a 300 ops/s b 300 ops/s", "[native] running fio natively",
                                                "[native] done: a 300 ops/s b 300 ops/s"}));
    // a run per technique, the spawner armed for the guest's start and the native runner only
    EXPECT_EQ(r.tracer.begun, 2);
    EXPECT_EQ(r.tracer.ended, 2);
    EXPECT_FALSE(r.tracer.armed);
    EXPECT_EQ(r.tracer.armed_for, (std::vector<uint32_t>{1, 2}));
    EXPECT_EQ(r.tracer.tracked, (std::vector<std::pair<pid_t, uint32_t>>{{4242, 1}, {4243, 1}}));
    EXPECT_EQ(r.driver.stats.created, 1);
    EXPECT_EQ(r.driver.stats.stopped, 1);
    EXPECT_EQ(r.driver.stats.destroyed, 1);
    EXPECT_TRUE(r.scratch_empty());
}

TEST(IoOrchestration, AGuestThatNeverStartsItsJobFailsAtTheBootTimeoutAndIsDestroyed) {
    IoRun r(fake::Boot::never);
    r.cfg.boot_timeout_s = 0.2;
    const std::string m = fake::what_of([&] { r.run(); });
    EXPECT_EQ(m, "Fake: the guest did not start its job within 0 s (" + ref(Setting::boot_timeout) + ")");
    EXPECT_FALSE(r.tracer.armed);
    EXPECT_EQ(r.driver.stats.started, 1);
    EXPECT_EQ(r.driver.stats.destroyed, 1);
    EXPECT_TRUE(r.scratch_empty());
}

TEST(IoOrchestration, AGuestThatDiesIsNamedWithItsLastOutput) {
    IoRun r(fake::Boot::dies);
    const std::string m = fake::what_of([&] { r.run(); });
    EXPECT_EQ(m, "Fake guest died: out of luck");
    EXPECT_FALSE(r.tracer.armed);
    EXPECT_EQ(r.driver.stats.destroyed, 1);
    EXPECT_TRUE(r.scratch_empty());
}

TEST(IoOrchestration, AStartThatThrowsDisarmsTheSpawner) {
    IoRun r(fake::Boot::start_fails);
    const std::string m = fake::what_of([&] { r.run(); });
    EXPECT_EQ(m, "fake guest: start refused");
    EXPECT_FALSE(r.tracer.armed) << "the spawner stayed armed: hypetrace's next child would be counted as the guest";
    EXPECT_EQ(r.driver.stats.destroyed, 1);
    EXPECT_TRUE(r.scratch_empty());
}

TEST(IoOrchestration, AFailedFioRunIsNamedWithFiosErrorOnceTheRunIsEndedAndTheGuestStopped) {
    IoRun r(fake::Boot::ready);
    int stopped_at_end_run = -1;
    r.tracer.on_end_run = [&] { stopped_at_end_run = r.driver.stats.stopped; };
    r.driver.job = [&](const std::filesystem::path&) {
        return std::pair<std::string, int>{job_output(2, 1, "fio: No space left on device\n"), 0};
    };
    const std::string m = fake::what_of([&] { r.run(); });
    EXPECT_EQ(m, "Fake: fio run 1 failed (exit 1): fio: No space left on device ");  // fio's stderr, not its JSON
    EXPECT_EQ(r.tracer.ended, 1);
    EXPECT_EQ(stopped_at_end_run, 0) << "the run is ended while the guest still runs (its exits are the job's)";
    EXPECT_EQ(r.driver.stats.stopped, 1);
    EXPECT_EQ(r.driver.stats.destroyed, 1);
    EXPECT_TRUE(r.scratch_empty());
}

TEST(IoOrchestration, MissingResultsAreCounted) {
    IoRun r(fake::Boot::ready);
    r.driver.job = [&](const std::filesystem::path&) { return std::pair<std::string, int>{job_output(1), 0}; };
    EXPECT_EQ(fake::what_of([&] { r.run(); }), "Fake: 1 of 2 fio results came back");
    EXPECT_EQ(r.driver.stats.stopped, 1);
    EXPECT_TRUE(r.scratch_empty());
}

TEST(IoOrchestration, TheNativeRunnerIsDisarmedOnEveryPath) {
    {  // it fails
        IoRun r(fake::Boot::ready);
        r.cfg.techniques = {{"native", "native", nullptr}};
        r.cfg.native_runner = [](const std::filesystem::path&, const std::filesystem::path&,
                                 const std::filesystem::path&, const std::function<bool()>&) { return 3; };
        EXPECT_EQ(fake::what_of([&] { r.run(); }), "the native fio runner failed (exit 3)");
        EXPECT_FALSE(r.tracer.armed);
        EXPECT_TRUE(r.scratch_empty());
    }
    {  // it throws (hypetrace interrupted while fio runs)
        IoRun r(fake::Boot::ready);
        r.cfg.techniques = {{"native", "native", nullptr}};
        r.cfg.native_runner = [](const std::filesystem::path&, const std::filesystem::path&,
                                 const std::filesystem::path&, const std::function<bool()>&) -> int {
            throw UserError("runner gone");
        };
        EXPECT_EQ(fake::what_of([&] { r.run(); }), "runner gone");
        EXPECT_FALSE(r.tracer.armed) << "the spawner stayed armed after the native runner threw";
        EXPECT_TRUE(r.scratch_empty());
    }
}

TEST(IoOrchestration, ANumberOfRunsIsRunAsBefore) {
    IoRun r(fake::Boot::ready);
    std::string script;
    r.driver.job = [&](const std::filesystem::path& dir) {
        script = script_of(dir);
        return std::pair<std::string, int>{job_output(2), 0};
    };
    IoResult res = r.run();
    EXPECT_NE(script.find("# hypetrace io: runs job.fio 2 times in a scratch directory"), std::string::npos) << script;
    EXPECT_NE(script.find("while [ $i -le 2 ]; do"), std::string::npos) << script;
    ASSERT_EQ(res.techniques.size(), 1u);
    EXPECT_EQ(res.techniques[0].runs_end, RunsEnd::count);
    const auto j = to_json(res);
    EXPECT_EQ(j["runs"], 2);
    EXPECT_TRUE(j["auto"].is_null());
    EXPECT_EQ(j["techniques"][0]["runs_end"], "count");
    EXPECT_EQ(j["techniques"][0]["summary"]["a"]["ops_per_s"]["noisy"], false);
    const std::string text = render_text(res);
    EXPECT_NE(text.find(", 2 runs of 1 s per section\n"), std::string::npos) << text;
    EXPECT_EQ(text.find("settled"), std::string::npos) << text;
    EXPECT_EQ(text.find("noisy"), std::string::npos) << text;
}

TEST(IoOrchestration, RunsAutoEndsTheJobOnceEverySectionIsSettled) {
    IoRun r(fake::Boot::ready);
    r.cfg.auto_runs = {true, 60, kAutoMaxRuns};
    r.cfg.techniques.push_back({"native", "native", nullptr});
    std::string script;
    r.driver.stream_job = [&](const std::filesystem::path& dir) {
        script = script_of(dir);
        return runs_of(std::vector<int>(10, 100));
    };
    int native_runs = 0;
    bool native_ended_by_go_on = false;
    r.cfg.native_runner = [&](const std::filesystem::path&, const std::filesystem::path& out,
                              const std::filesystem::path&, const std::function<bool()>& go_on) {
        EXPECT_TRUE(go_on) << "runs auto: the runner asks whether to go on";
        for (unsigned i = 1; i <= 10; ++i) {
            std::ofstream(out, std::ios::app) << one_run(i);
            ++native_runs;
            if (!go_on()) {
                native_ended_by_go_on = true;
                return 143;  // terminated: of no interest
            }
        }
        return 0;
    };
    IoResult res = r.run();
    EXPECT_NE(script.find("runs job.fio up to 100 times"), std::string::npos) << script;
    EXPECT_NE(script.find("while [ $i -le 100 ]; do"), std::string::npos) << script;
    ASSERT_EQ(res.techniques.size(), 2u);
    for (const auto& t : res.techniques) {
        EXPECT_EQ(t.runs.size(), 3u) << t.technique.id;  // identical runs: settled at the minimum
        EXPECT_EQ(t.runs_end, RunsEnd::settled) << t.technique.id;
        EXPECT_EQ(t.ops_per_s.at("a").n, 3u);
    }
    // the guest's job ended by hypetrace after its third run, before it could end itself
    EXPECT_EQ(r.driver.stats.pieces, 3);
    EXPECT_FALSE(r.driver.stats.job_ended);
    EXPECT_EQ(r.driver.stats.stopped, 1);
    EXPECT_EQ(r.driver.stats.destroyed, 1);
    EXPECT_EQ(native_runs, 3);
    EXPECT_TRUE(native_ended_by_go_on);
    EXPECT_EQ(r.tracer.begun, 2);
    EXPECT_EQ(r.tracer.ended, 2);
    EXPECT_FALSE(r.tracer.armed);
    EXPECT_TRUE(r.scratch_empty());
    EXPECT_EQ(r.said, (std::vector<std::string>{
                          "[fake] booting", "[fake] ready; fio running (until settled: at least 3 runs, at most 100)",
                          "[fake] run 1 done (until settled)", "[fake] run 2 done (until settled)",
                          "[fake] run 3 done (until settled)",
                          "[fake] settled after 3 runs: every interval within a tenth of its mean",
                          "[fake] done: a 300 ops/s b 300 ops/s", "[native] running fio natively",
                          "[native] run 1 done (until settled)", "[native] run 2 done (until settled)",
                          "[native] run 3 done (until settled)",
                          "[native] settled after 3 runs: every interval within a tenth of its mean",
                          "[native] done: a 300 ops/s b 300 ops/s"}));
    const auto j = to_json(res);
    EXPECT_EQ(j["runs"], "auto");
    EXPECT_EQ(j["auto"]["min_runs"], 3);
    EXPECT_EQ(j["auto"]["max_runs"], 100);
    EXPECT_EQ(j["techniques"][0]["runs_end"], "settled");
    EXPECT_EQ(j["techniques"][0]["runs"].size(), 3u);
    const std::string text = render_text(res);
    EXPECT_NE(text.find("  Fake: settled after 3 runs"), std::string::npos) << text;
    EXPECT_NE(text.find(ref(Setting::runs) + " auto: at least 3 runs, at most 100 or 60 s per technique"),
              std::string::npos) << text;
}

TEST(IoOrchestration, RunsAutoStopsAtTheTimeCapKeepingTheCompleteRunsOnly) {
    IoRun r(fake::Boot::ready);
    r.cfg.auto_runs = {true, 0.3, kAutoMaxRuns};
    r.cfg.techniques.push_back({"native", "native", nullptr});
    // three runs far apart, half of a fourth, then fio goes on and on
    const std::string half = one_run(4, 1000).substr(0, 60);
    r.driver.stream_job = [&](const std::filesystem::path&) {
        auto pieces = runs_of({100, 1000, 100});
        pieces.push_back(half);
        pieces.resize(pieces.size() + 2000);  // 40 s of looks with nothing new
        return pieces;
    };
    r.cfg.native_runner = [&](const std::filesystem::path&, const std::filesystem::path& out,
                              const std::filesystem::path&, const std::function<bool()>& go_on) {
        for (const auto& p : runs_of({100, 1000, 100})) {
            std::ofstream(out, std::ios::app) << p;
            if (!go_on()) return 143;
        }
        std::ofstream(out, std::ios::app) << half;
        while (go_on()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
        return 143;
    };
    const auto t0 = std::chrono::steady_clock::now();
    IoResult res = r.run();
    EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 10.0);
    ASSERT_EQ(res.techniques.size(), 2u);
    for (const auto& t : res.techniques) {
        EXPECT_EQ(t.runs.size(), 3u) << t.technique.id << ": the unfinished fourth run is left out";
        EXPECT_EQ(t.runs_end, RunsEnd::time_cap) << t.technique.id;
        EXPECT_GE(t.job_s, 0);
        EXPECT_TRUE(noisy(t.ops_per_s.at("a")));
    }
    EXPECT_FALSE(r.driver.stats.job_ended);
    EXPECT_EQ(r.driver.stats.stopped, 1);
    EXPECT_TRUE(r.scratch_empty());
    const auto j = to_json(res);
    EXPECT_EQ(j["techniques"][1]["runs_end"], "time_cap");
    EXPECT_EQ(j["techniques"][1]["summary"]["a"]["ops_per_s"]["noisy"], true);
    EXPECT_EQ(j["techniques"][1]["summary"]["b"]["ops_per_s"]["noisy"], false);
    const std::string text = render_text(res);
    // a: 300, 1200, 300 ops/s: mean 600, +-1291 (t 4.303, sd 519.6)
    EXPECT_NE(text.find("  ! noisy: Fake a ops/s: +-215 % of the mean over 3 runs; about 289 runs would narrow it to 10 %\n"),
              std::string::npos) << text;
    EXPECT_NE(text.find("  ! noisy: native a ops/s: +-215 %"), std::string::npos) << text;
    EXPECT_EQ(text.find("noisy: Fake b"), std::string::npos) << text;
    EXPECT_NE(text.find("  native: not settled after 3 runs: stopped at the time cap (" + ref(Setting::max_time) + " 0.3 s)\n"),
              std::string::npos) << text;
}

TEST(IoOrchestration, RunsAutoStopsAtItsMostRuns) {
    IoRun r(fake::Boot::ready);
    r.cfg.auto_runs = {true, 60, 4};
    std::string script;
    r.driver.stream_job = [&](const std::filesystem::path& dir) {
        script = script_of(dir);
        return runs_of({100, 1000, 100, 1000});
    };
    IoResult res = r.run();
    EXPECT_NE(script.find("while [ $i -le 4 ]; do"), std::string::npos) << script;
    ASSERT_EQ(res.techniques.size(), 1u);
    EXPECT_EQ(res.techniques[0].runs.size(), 4u);
    EXPECT_EQ(res.techniques[0].runs_end, RunsEnd::run_cap);
    EXPECT_NE(render_text(res).find("  Fake: not settled after 4 runs: the most " + ref(Setting::runs) + " auto makes"),
              std::string::npos) << render_text(res);
    EXPECT_EQ(r.driver.stats.stopped, 1);
    EXPECT_TRUE(r.scratch_empty());
}

TEST(IoOrchestration, RunsAutoNamesAFailedFioRunOnceTheRunIsEndedAndTheGuestStopped) {
    IoRun r(fake::Boot::ready);
    r.cfg.auto_runs = {true, 60, kAutoMaxRuns};
    int stopped_at_end_run = -1;
    r.tracer.on_end_run = [&] { stopped_at_end_run = r.driver.stats.stopped; };
    r.driver.stream_job = [&](const std::filesystem::path&) {
        return std::vector<std::string>{one_run(1), one_run(2, 100, 1, "fio: No space left on device\n"), one_run(3)};
    };
    const std::string m = fake::what_of([&] { r.run(); });
    EXPECT_EQ(m, "Fake: fio run 2 failed (exit 1): fio: No space left on device ");
    EXPECT_EQ(r.tracer.ended, 1);
    EXPECT_EQ(stopped_at_end_run, 0) << "the run is ended while the guest still runs";
    EXPECT_EQ(r.driver.stats.pieces, 2) << "the job is ended at the failed run";
    EXPECT_EQ(r.driver.stats.stopped, 1);
    EXPECT_EQ(r.driver.stats.destroyed, 1);
    EXPECT_TRUE(r.scratch_empty());
}

// The real native runner, on a run.sh that is no fio (a plain child, no root): with go_on it ends
// the job when told, the shell and what it started with it; without, it waits as it always did.
TEST(IoNativeRunner, EndsTheJobWhenGoOnSaysNoAndWaitsWithoutIt) {
    const TestTempDir tmp{fake::kTempDir};
    const std::filesystem::path job = std::filesystem::path(tmp.path) / "job";
    std::filesystem::create_directories(job);
    const auto out = std::filesystem::path(tmp.path) / "out.log";
    std::ofstream(job / "run.sh") << "echo $$ > \"$HT_IO_DIR.pid\"\n"
                                     "sleep 30 &\n"
                                     "echo $! > \"$HT_IO_DIR.child\"\n"
                                     "while :; do echo tick; sleep 0.02; done\n";
    const auto work = std::filesystem::path(tmp.path) / "work";
    int asked = 0;
    const auto t0 = std::chrono::steady_clock::now();
    run_native_io_job(job, out, work, [&] {
        ++asked;
        std::ifstream f(out);
        const std::string text{std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
        return text.find("tick\ntick\ntick\n") == std::string::npos;
    });
    EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 10.0);
    EXPECT_GE(asked, 2);
    for (const char* which : {".pid", ".child"}) {
        std::ifstream f(work.string() + which);
        pid_t pid = 0;
        ASSERT_TRUE(f >> pid) << which;
        // gone (its group killed), or at most a zombie of an exited shell nobody reaps
        const bool gone = kill(pid, 0) != 0 && errno == ESRCH;
        std::ifstream st("/proc/" + std::to_string(pid) + "/stat");
        std::string stat{std::istreambuf_iterator<char>(st), std::istreambuf_iterator<char>()};
        EXPECT_TRUE(gone || stat.find(") Z ") != std::string::npos) << which << " " << pid << " still runs: " << stat;
    }
    // go_on throwing (once the new job has said who it is) ends the job too, and the error goes on
    std::filesystem::remove(work.string() + ".pid");
    EXPECT_EQ(fake::what_of([&] {
                  run_native_io_job(job, out, work, [&]() -> bool {
                      std::error_code ec;
                      if (std::filesystem::file_size(work.string() + ".pid", ec) == 0 || ec) return true;
                      throw UserError("looked and fell");
                  });
              }),
              "looked and fell");
    std::ifstream f(work.string() + ".pid");
    pid_t pid = 0;
    ASSERT_TRUE(f >> pid);
    EXPECT_TRUE(kill(pid, 0) != 0 && errno == ESRCH);
    // without go_on: waited for, its exit code returned
    std::ofstream(job / "run.sh", std::ios::trunc) << "echo done; exit 7\n";
    EXPECT_EQ(run_native_io_job(job, out, work), 7);
}

}  // namespace ht
