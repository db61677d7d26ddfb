// SPDX-License-Identifier: MIT
// Test doubles for experiments' orchestration tests: a tracer that records what it is asked
// (core/trace_backend.h is the seam) and a driver whose guests "boot" by writing hypetrace's
// ready marker to their console file, or fail in a chosen way. No root, no BPF, no guest.
#pragma once
#include "core/base/error.h"
#include "core/tracing/trace_backend.h"
#include "drivers/guest.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
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
        RunTrace t = next;
        t.origin_ns = origin;
        return t;
    }
    RunSink* sink() const override { return nullptr; }
    const std::vector<SourceStatus>& sources() const override { return sources_; }
    uint64_t bucket_ns() const override { return 1'000'000; }

    RunTrace next;  // what end_run hands back
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
};

struct Stats {
    int created = 0, prepared = 0, started = 0, stopped = 0, destroyed = 0;
};

class Guest : public ht::Guest {
public:
    Guest(GuestSpec spec, Boot boot, Stats& stats) : spec_(std::move(spec)), boot_(boot), stats_(stats) {}
    ~Guest() override { ++stats_.destroyed; }
    GuestKind kind() const override { return GuestKind::process; }
    void prepare() override { ++stats_.prepared; }
    void start() override {
        ++stats_.started;
        if (boot_ == Boot::start_fails) throw UserError("fake guest: start refused");
        std::ofstream out(spec_.run_dir / "console.log");
        if (boot_ == Boot::ready) out << kReadyMarker << "\n";
        if (boot_ == Boot::dies) out << "fake guest: out of luck\n";
        running_ = boot_ != Boot::dies;
    }
    void stop() noexcept override {
        if (running_) ++stats_.stopped;
        running_ = false;
    }
    bool alive() const override { return running_; }
    pid_t main_pid() const override { return 4242; }
    std::vector<pid_t> pids() const override { return {4242, 4243}; }
    std::map<std::string, std::string> console_files() const override { return {{"console", "console.log"}}; }
    std::vector<MarkerSpec> milestones() const override { return console_milestones(Variant::app); }
    std::string init_path() const override { return "/bin/true"; }
    std::string describe() const override { return "fake guest " + spec_.name; }
    std::string failure_hint() const override { return boot_ == Boot::dies ? "out of luck" : ""; }

private:
    GuestSpec spec_;
    Boot boot_;
    Stats& stats_;
    bool running_ = false;
};

class Driver : public ht::Driver {
public:
    explicit Driver(Boot boot) : boot_(boot) {}
    std::string name() const override { return "fake"; }
    GuestKind kind() const override { return GuestKind::process; }
    void preflight(const GuestSpec&) const override {}
    std::unique_ptr<ht::Guest> create(const GuestSpec& spec) override {
        ++stats.created;
        return std::make_unique<Guest>(spec, boot_, stats);
    }
    Stats stats;

private:
    Boot boot_;
};

// A private scratch parent (mode 0700, ours), removed at the end.
struct TempDir {
    std::string path;
    TempDir() {
        char t[] = "/tmp/ht-unit-XXXXXX";
        path = mkdtemp(t);
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
};

}  // namespace ht::fake
