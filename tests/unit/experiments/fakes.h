// SPDX-License-Identifier: MIT
// Test doubles for experiments' orchestration tests: a tracer that records what it is asked
// (core/trace_backend.h is the seam) and a driver whose guests "boot" by writing hypetrace's
// ready marker to their console file (after a start-up time the test may choose), or fail in a
// chosen way, and, handed a job directory, run a job the test gives (a fake fio) the way the guest
// job channel does, at once or piece by piece. No root, no BPF, no guest.
#pragma once
#include "../../temp_dir.h"
#include "core/base/error.h"
#include "core/tracing/trace_backend.h"
#include "drivers/guest.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <time.h>
#include <unistd.h>
#include <vector>

namespace ht::fake {

class Tracer : public TraceBackend {
public:
    void begin_run(uint64_t origin_ns) override {
        ++begun;
        EXPECT_FALSE(in_run) << "begin_run inside a run";
        in_run = true;
        origin = origin_ns;
    }
    void arm_spawner(uint32_t guest) override {
        EXPECT_FALSE(armed) << "armed twice";
        armed = true;
        armed_for.push_back(guest);
    }
    void disarm_spawner() override { armed = false; }
    void set_phase_port(uint16_t port) override { phase_port = port; }
    void track(pid_t tgid, uint32_t guest) override { tracked.push_back({tgid, guest}); }
    int events_fd() const override { return -1; }  // poll() ignores a negative fd
    void poll_events(int) override { ++polls; }
    std::vector<KsmScan> take_ksm_scans() override { return {}; }
    std::vector<CounterSample> drain_counters() override { return {}; }
    RunTrace end_run() override {
        ++ended;
        EXPECT_TRUE(in_run) << "end_run without begin_run";
        in_run = false;
        armed = false;  // as the real one: ending a run disarms the spawner
        if (on_end_run) on_end_run();
        RunTrace t = next;
        t.origin_ns = origin;
        return t;
    }
    RunSink* sink() const override { return nullptr; }
    const std::vector<SourceStatus>& sources() const override { return sources_; }
    uint64_t bucket_ns() const override { return 1'000'000; }

    RunTrace next;  // what end_run hands back
    std::function<void()> on_end_run;  // called as a run ends (what else had happened by then?)
    int begun = 0, ended = 0, polls = 0;
    bool in_run = false, armed = false;
    uint64_t origin = 0;
    uint16_t phase_port = 0;
    std::vector<uint32_t> armed_for;
    std::vector<std::pair<pid_t, uint32_t>> tracked;

private:
    std::vector<SourceStatus> sources_;
};

// How a fake guest behaves.
enum class Boot {
    ready,        // writes the ready marker as it starts
    never,        // stays alive, never ready
    dies,         // exits at once (alive() false), with a line on its console
    start_fails,  // start() throws
    ready_then_dies,  // writes the ready marker, then is found dead (alive() false) until stopped
};

struct Stats {
    int created = 0, prepared = 0, started = 0, stopped = 0, destroyed = 0;
    int checkpointed = 0, restored = 0, pings = 0;  // checkpoint(); starts from a state; pings sent
    int pieces = 0;          // of a streamed job, written so far (all guests)
    bool job_ended = false;  // a streamed job wrote its end marker (it was not stopped before)
};

// A full guest's job (GuestSpec::job_dir), as the guest job channel runs it: given the job
// directory it was handed, returns what the job prints and its exit code; the guest writes it on
// its "marks" stream between HYPETRACE-JOB-BEGIN and HYPETRACE-JOB-END <rc> once ready.
using Job = std::function<std::pair<std::string, int>(const std::filesystem::path& job_dir)>;
// A full guest's job that takes its time: what it prints, in pieces, one piece appended each time
// the guest is looked at (alive()) once ready, then "HYPETRACE-JOB-END 0" at the next look; a
// guest stopped before then never ends it (io's runs auto ends jobs mid-way).
using StreamJob = std::function<std::vector<std::string>(const std::filesystem::path& job_dir)>;

// A checkpointable fake guest (Driver::checkpointable): checkpoint() writes `state` to the
// checkpoint's state file; a restored one does not boot (no ready marker) but answers pings on its
// console once `answers_after` pings were sent, and reports restore marks.
struct Checkpointing {
    bool on = false;
    std::string state = "fake saved state";
    bool state_dir = false;  // the state is a directory of files (as a container's CRIU images)
    std::string save_error;  // non-empty: saving fails with this UserError (the guest stopped)
    int answers_after = 0;  // pings ignored first (the guest not running yet); < 0: never answers
};

class Guest : public ht::Guest {
public:
    Guest(GuestSpec spec, Boot boot, Stats& stats, Job job = {}, StreamJob stream = {}, double start_s = 0,
          Checkpointing ckpt = {}, bool panics = false)
        : spec_(std::move(spec)), boot_(boot), stats_(stats), job_(std::move(job)), stream_(std::move(stream)),
          start_s_(start_s), ckpt_(std::move(ckpt)), panics_(panics) {}
    ~Guest() override { ++stats_.destroyed; }
    GuestKind kind() const override { return GuestKind::process; }
    void prepare() override { ++stats_.prepared; }
    void start() override {
        ++stats_.started;
        if (boot_ == Boot::start_fails) throw UserError("fake guest: start refused");
        if (start_s_ > 0) std::this_thread::sleep_for(std::chrono::duration<double>(start_s_));
        std::ofstream out(spec_.run_dir / "console.log");
        if (panics_) {  // its kernel panics before it is ready: QEMU would run on, the guest never
            out << "[    1.000000] Kernel panic - not syncing: fake\n";
            running_ = true;
            return;
        }
        if (spec_.restore) {  // from the saved state: it answers pings, it does not boot
            ++stats_.restored;
            EXPECT_TRUE(std::filesystem::exists(spec_.checkpoint_dir / kCheckpointState)) << "restored from nothing";
            loaded_ns_ = mono_now();
            running_ = boot_ != Boot::dies;
            return;
        }
        const bool ready = boot_ == Boot::ready || boot_ == Boot::ready_then_dies;
        if (ready) out << kReadyMarker << "\n";
        if (boot_ == Boot::dies) out << "fake guest: out of luck\n";
        running_ = boot_ != Boot::dies;
        if (ready && !spec_.job_dir.empty() && stream_) {
            pieces_ = stream_(spec_.job_dir);
            std::ofstream(spec_.run_dir / kMarksFile) << kJobBeginMarker << "\n";
        } else if (ready && !spec_.job_dir.empty() && job_) {
            auto [text, rc] = job_(spec_.job_dir);
            std::ofstream marks(spec_.run_dir / kMarksFile);
            marks << kJobBeginMarker << "\n" << text << kJobEndMarker << " " << rc << "\n";
        }
    }
    void stop() noexcept override {
        if (running_) ++stats_.stopped;
        running_ = false;
    }
    bool alive() const override {
        if (running_ && stream_ && !ended_) {  // the streamed job goes on by one piece
            std::ofstream marks(spec_.run_dir / kMarksFile, std::ios::app);
            if (next_ < pieces_.size()) {
                marks << pieces_[next_++];
                ++stats_.pieces;
            } else {
                marks << kJobEndMarker << " 0\n";
                ended_ = stats_.job_ended = true;
            }
        }
        return running_ && boot_ != Boot::ready_then_dies && !panics_;
    }
    std::string kernel_panic() const override { return panics_ ? "Kernel panic - not syncing: fake" : ""; }
    pid_t main_pid() const override { return 4242; }
    std::vector<pid_t> pids() const override { return {4242, 4243}; }
    std::map<std::string, std::string> console_files() const override {
        if (spec_.job_dir.empty()) return {{"console", "console.log"}};
        return {{"console", "console.log"}, {"marks", kMarksFile}};
    }
    std::vector<MarkerSpec> milestones() const override {
        if (spec_.restore) return {{"console", kPongMarker, "ready"}};
        return console_milestones(Variant::app);
    }
    bool can_checkpoint() const override { return ckpt_.on; }
    std::string ping_stream() const override { return "console"; }
    bool ping(uint64_t token) noexcept override {
        if (!running_) return false;
        ++stats_.pings;
        if (ckpt_.answers_after < 0 || pings_++ < ckpt_.answers_after) return true;
        std::ofstream(spec_.run_dir / "console.log", std::ios::app) << kPongMarker << " " << token << "\n";
        if (!answered_ns_) answered_ns_ = mono_now();
        return true;
    }
    void checkpoint() override {
        if (!ckpt_.save_error.empty()) {
            stop();
            throw UserError(ckpt_.save_error);
        }
        ++stats_.checkpointed;
        if (ckpt_.state_dir) {
            std::filesystem::create_directories(spec_.checkpoint_dir / kCheckpointState);
            std::ofstream(spec_.checkpoint_dir / kCheckpointState / "pages-1.img") << ckpt_.state;
            std::ofstream(spec_.checkpoint_dir / kCheckpointState / "dump.log") << "dumped\n";
        } else {
            std::ofstream(spec_.checkpoint_dir / kCheckpointState) << ckpt_.state;
        }
        stop();
    }
    std::vector<MarkerHit> restore_marks() override {
        if (!spec_.restore) return {};
        return {{"state_load", loaded_ns_, "fake"}, {"state_loaded", loaded_ns_ + 1, "fake"}, {"resumed", loaded_ns_ + 2, "fake"}};
    }
    std::string init_path() const override { return "/bin/true"; }
    std::string describe() const override { return "fake guest " + spec_.name; }
    std::string failure_hint() const override {
        return boot_ == Boot::dies || boot_ == Boot::ready_then_dies ? "out of luck" : "";
    }

private:
    GuestSpec spec_;
    Boot boot_;
    Stats& stats_;
    Job job_;
    StreamJob stream_;
    double start_s_;
    Checkpointing ckpt_;
    bool panics_;
    int pings_ = 0;
    uint64_t loaded_ns_ = 0, answered_ns_ = 0;
    static uint64_t mono_now() {
        timespec ts{};
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return uint64_t(ts.tv_sec) * 1'000'000'000ull + uint64_t(ts.tv_nsec);
    }
    bool running_ = false;
    std::vector<std::string> pieces_;  // a streamed job's, and how far it came
    mutable std::size_t next_ = 0;
    mutable bool ended_ = false;
};

class Driver : public ht::Driver {
public:
    explicit Driver(Boot boot) : boot_(boot) {}
    std::string name() const override { return "fake"; }
    GuestKind kind() const override { return kind_of; }
    void preflight(const GuestSpec&) const override {}
    std::unique_ptr<ht::Guest> create(const GuestSpec& spec) override {
        const double start_s = start_s_each.empty() ? 0 : start_s_each[std::size_t(stats.created) % start_s_each.size()];
        const bool panics = std::find(panic_at.begin(), panic_at.end(), stats.created) != panic_at.end();
        ++stats.created;
        specs.push_back(spec);
        return std::make_unique<Guest>(spec, boot_, stats, job, stream_job, start_s, checkpointing, panics);
    }
    std::string restore_problem() const override { return checkpointing.on ? "" : "fake: no checkpoints"; }
    Stats stats;
    std::vector<GuestSpec> specs;  // every guest's, in the order created
    Job job;  // what its full guests run when handed a job
    StreamJob stream_job;  // or this, in pieces (taking the place of job)
    // Seconds each guest's start() takes before it is ready, in the order created, cycled (none:
    // at once): start-up times a test chooses.
    std::vector<double> start_s_each;
    Checkpointing checkpointing;  // its guests' (off: they cannot be checkpointed)
    std::vector<int> panic_at;    // the guests (0: the first created) whose kernel panics as they start
    GuestKind kind_of = GuestKind::process;  // what the driver says its guests are

private:
    Boot boot_;
};

// What `f` threw as a UserError, "(no error)" if it returned.
inline std::string what_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const UserError& e) {
        return e.what();
    }
    return "(no error)";
}

// The template of the tests' private scratch parents (TestTempDir: mode 0700, ours, removed at the end).
inline constexpr const char* kTempDir = "/tmp/ht-unit-XXXXXX";

}  // namespace ht::fake
