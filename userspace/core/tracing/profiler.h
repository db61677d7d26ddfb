// SPDX-License-Identifier: MIT
// CPU stack sampling for `--trace DIR`: a perf-event BPF program (bpf/profile.bpf.c) on a software
// cpu-clock event per CPU takes kernel and user stacks and counts them in the kernel; a thread
// here drains the counts every 100 ms and snapshots the mappings of every sampled process while it
// is alive, so that stop() can symbolise everything, also for processes (guests) that have exited.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace ht {

struct ProfileOptions {
    unsigned freq_hz = 999;             // per CPU
    uint64_t bucket_ns = 100'000'000;   // samples are counted per 100 ms
    bool verbose = false;
    // The tracer's KVM_RUN state map (Tracer::run_state_map_fd()), or -1: with it, samples of a
    // vCPU thread in QEMU carry the exit it is handling (StackSample::handling).
    int run_state_map_fd = -1;
};

// One row: samples of one thread with one stack in one bucket.
struct StackSample {
    uint64_t bucket_start_ns = 0;  // CLOCK_MONOTONIC
    uint32_t tgid = 0, pid = 0;
    uint32_t comm = 0;             // the thread's name: an id into Profile::comms (a trace holds
                                   // millions of samples and a few dozen names)
    uint32_t ustack = 0, kstack = 0;  // ids into Profile::stacks; 0: no such stack
    uint64_t count = 0;
    uint64_t handling = 0;  // a vCPU thread in QEMU: the exit it handled (HT_HANDLING_* of bpf/hypetrace.h)
};

struct Profile {
    unsigned freq_hz = 0;
    unsigned cpus = 0;
    uint64_t start_ns = 0, end_ns = 0, bucket_ns = 0;
    // id -> frames, root first; id 0 is the empty stack. Kernel frames are kernel symbols; user
    // frames are function names, "[file]" where a mapped file has no symbol there, "[unknown]".
    std::vector<std::vector<std::string>> stacks{{}};
    std::vector<StackSample> samples;
    std::vector<std::string> comms{""};  // id -> thread name; id 0 is no name
    uint64_t idle_samples = 0, lost_samples = 0, lost_stacks = 0;
    uint64_t user_frames = 0, user_frames_named = 0;  // how many user frames got a function name
};

// Thread names to ids into a Profile's comms: id(p, name) gives name's id, adding it if new. One
// index serves one Profile, kept across calls (empty at first: filled from p.comms).
struct CommIndex {
    struct Hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
    };
    std::unordered_map<std::string, uint32_t, Hash, std::equal_to<>> ids;
    uint32_t id(Profile& p, std::string_view name) {
        if (name.empty()) return 0;
        if (ids.size() + 1 < p.comms.size())
            for (uint32_t i = 1; i < p.comms.size(); ++i) ids.emplace(p.comms[i], i);
        auto it = ids.find(name);
        if (it != ids.end()) return it->second;
        p.comms.emplace_back(name);
        return ids.emplace(std::string(name), uint32_t(p.comms.size() - 1)).first->second;
    }
};
// A sample's thread name ("" if none).
inline const std::string& comm_of(const Profile& p, const StackSample& s) {
    return s.comm < p.comms.size() ? p.comms[s.comm] : p.comms.front();
}

class Profiler {
public:
    // Loads the program and opens one sampling event per online CPU (root). Throws UserError.
    explicit Profiler(const ProfileOptions& opts = {});
    ~Profiler();
    Profiler(const Profiler&) = delete;
    Profiler& operator=(const Profiler&) = delete;

    // Attaches to every CPU and starts draining.
    void start();
    // Detaches, drains the rest and symbolises. Call once.
    Profile stop();

    struct Impl;

private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace ht
