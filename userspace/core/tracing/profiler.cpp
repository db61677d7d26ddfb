// SPDX-License-Identifier: MIT
#include "core/tracing/profiler.h"

#include "core/base/clock.h"
#include "core/base/error.h"
#include "core/host/proc.h"
#include "core/tracing/libbpf_ptr.h"
#include "core/tracing/symbols.h"
#include "hypetrace.h"
#include "profile.skel.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>

namespace ht {

namespace {

struct KeyLess {
    bool operator()(const ht_sample_key& a, const ht_sample_key& b) const { return std::memcmp(&a, &b, sizeof a) < 0; }
};

}  // namespace

// "0-3,5" (/sys/devices/system/cpu/online) -> {0, 1, 2, 3, 5}
namespace {

std::vector<int> online_cpus() {
    std::vector<int> cpus = parse_cpu_list(read_text("/sys/devices/system/cpu/online").value_or(""));
    if (cpus.empty())
        for (int i = 0; i < libbpf_num_possible_cpus(); ++i) cpus.push_back(i);
    return cpus;
}

struct SkelDeleter {
    void operator()(profile_bpf* s) const { profile_bpf__destroy(s); }
};
using SkelPtr = std::unique_ptr<profile_bpf, SkelDeleter>;

// One perf event's file descriptor, closed when it goes.
class PerfFd {
public:
    explicit PerfFd(int fd) : fd_(fd) {}
    PerfFd(PerfFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    PerfFd& operator=(PerfFd&&) = delete;
    PerfFd(const PerfFd&) = delete;
    PerfFd& operator=(const PerfFd&) = delete;
    ~PerfFd() {
        if (fd_ >= 0) close(fd_);
    }
    int get() const { return fd_; }

private:
    int fd_;
};

}  // namespace

struct Profiler::Impl {
    ProfileOptions opts;
    // Destroyed in reverse order, after the destructor has stopped the drainer: the links (the
    // program leaves each event), the events, then the skeleton.
    SkelPtr skel;
    std::vector<PerfFd> perf_fds;
    std::vector<BpfLinkPtr> links;
    uint64_t start_ns = 0;

    // Drained so far (drain thread and stop() under mu).
    std::mutex mu;
    std::map<ht_sample_key, uint64_t, KeyLess> counts;
    std::unordered_map<uint64_t, std::vector<uint64_t>> raw_stacks;  // hash -> ips, leaf first
    Symbolizer symbolizer;
    std::unordered_map<uint32_t, uint64_t> snapshot_at;  // tgid -> when its mappings were last read

    std::thread drainer;
    std::mutex wake_mu;
    std::condition_variable wake;
    bool stopping = false;

    ~Impl() {
        {
            std::lock_guard<std::mutex> l(wake_mu);
            stopping = true;
        }
        wake.notify_all();
        if (drainer.joinable()) drainer.join();
    }

    // Takes the kernel's counts and the stacks they name; reads the mappings of processes seen.
    void drain() {
        std::lock_guard<std::mutex> l(mu);
        int fd = bpf_map__fd(skel->maps.samples);
        std::vector<ht_sample_key> keys(4096);
        std::vector<uint64_t> vals(keys.size());
        std::unordered_set<uint64_t> need;
        std::unordered_set<uint32_t> tgids;
        uint64_t batch = 0;
        bool first = true;
        for (;;) {
            uint32_t n = uint32_t(keys.size());
            LIBBPF_OPTS(bpf_map_batch_opts, bo);
            int err = bpf_map_lookup_and_delete_batch(fd, first ? nullptr : &batch, &batch, keys.data(), vals.data(),
                                                      &n, &bo);
            first = false;
            for (uint32_t i = 0; i < n; ++i) {
                counts[keys[i]] += vals[i];
                for (uint64_t h : {keys[i].ustack, keys[i].kstack})
                    if (h && !raw_stacks.count(h)) need.insert(h);
                tgids.insert(keys[i].tgid);
            }
            if (err == 0) continue;
            if (err == -ENOSPC && n == 0) {
                keys.resize(keys.size() * 2);
                vals.resize(keys.size());
                continue;
            }
            break;
        }
        int sfd = bpf_map__fd(skel->maps.stacks);
        for (uint64_t h : need) {
            ht_stack st{};
            if (bpf_map_lookup_elem(sfd, &h, &st) != 0) continue;
            raw_stacks[h].assign(st.ip, st.ip + std::min<unsigned>(st.depth, HT_STACK_DEPTH));
            bpf_map_delete_elem(sfd, &h);  // known here now: keep the kernel's map from filling
        }
        const uint64_t now = mono_ns();
        for (uint32_t t : tgids) {
            auto it = snapshot_at.find(t);
            if (it != snapshot_at.end() && now - it->second < 1'000'000'000ULL) continue;
            symbolizer.snapshot(pid_t(t));  // false: gone; what was read before stays
            snapshot_at[t] = now;
        }
    }

    void run_drainer() {
        std::unique_lock<std::mutex> l(wake_mu);
        while (!stopping) {
            wake.wait_for(l, std::chrono::milliseconds(100));
            if (stopping) break;
            l.unlock();
            drain();
            l.lock();
        }
    }
};

Profiler::Profiler(const ProfileOptions& opts) : impl_(std::make_unique<Impl>()) {
    impl_->opts = opts;
    if (geteuid() != 0) throw UserError("CPU sampling needs root (perf events on every CPU, BPF)");
    impl_->skel.reset(profile_bpf__open());
    if (!impl_->skel) throw UserError(errno_text("cannot open hypetrace's profiling BPF object", errno));
    impl_->skel->rodata->bucket_ns = opts.bucket_ns;
    if (opts.run_state_map_fd >= 0) {
        if (bpf_map__reuse_fd(impl_->skel->maps.kvm_run_start, opts.run_state_map_fd) != 0)
            throw UserError(errno_text("cannot share the tracer's KVM_RUN state with the profiler", errno));
        impl_->skel->rodata->track_handling = true;
    }
    if (int err = profile_bpf__load(impl_->skel.get()); err != 0)
        throw UserError("cannot load hypetrace's profiling BPF program: " + std::string(strerror(-err)));
    for (int cpu : online_cpus()) {
        perf_event_attr attr{};
        attr.size = sizeof attr;
        attr.type = PERF_TYPE_SOFTWARE;
        attr.config = PERF_COUNT_SW_CPU_CLOCK;
        attr.freq = 1;
        attr.sample_freq = opts.freq_hz;
        attr.disabled = 1;
        int fd = int(syscall(SYS_perf_event_open, &attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC));
        if (fd < 0) {
            if (errno == ENODEV) continue;  // CPU went offline
            throw UserError(errno_text("cannot open a cpu-clock perf event on CPU " + std::to_string(cpu), errno) +
                            " (kernel.perf_event_paranoid, or no perf events in this kernel)");
        }
        impl_->perf_fds.emplace_back(fd);
    }
    if (impl_->perf_fds.empty()) throw UserError("no online CPU to sample");
}

Profiler::~Profiler() = default;

void Profiler::start() {
    auto* s = impl_->skel.get();
    impl_->start_ns = mono_ns();
    s->bss->origin_ns = impl_->start_ns;
    for (const PerfFd& fd : impl_->perf_fds) {
        BpfLinkPtr link(bpf_program__attach_perf_event(s->progs.ht_sample, fd.get()));
        if (!link) throw UserError(errno_text("cannot attach the sampling program to a perf event", errno));
        impl_->links.push_back(std::move(link));
        ioctl(fd.get(), PERF_EVENT_IOC_ENABLE, 0);
    }
    impl_->drainer = std::thread([this] { impl_->run_drainer(); });
}

Profile Profiler::stop() {
    {
        std::lock_guard<std::mutex> l(impl_->wake_mu);
        impl_->stopping = true;
    }
    impl_->wake.notify_all();
    if (impl_->drainer.joinable()) impl_->drainer.join();
    for (const PerfFd& fd : impl_->perf_fds) ioctl(fd.get(), PERF_EVENT_IOC_DISABLE, 0);
    impl_->links.clear();  // detached
    impl_->drain();

    Profile p;
    p.freq_hz = impl_->opts.freq_hz;
    p.cpus = unsigned(impl_->perf_fds.size());
    p.start_ns = impl_->start_ns;
    p.end_ns = mono_ns();
    p.bucket_ns = impl_->opts.bucket_ns;
    auto* bss = impl_->skel->bss;
    p.idle_samples = bss->idle_samples;
    p.lost_samples = bss->lost_samples;
    p.lost_stacks = bss->lost_stacks;

    // Symbolise: kernel stacks once per hash, user stacks once per (process, hash).
    std::map<std::vector<std::string>, uint32_t> ids;
    auto intern = [&](std::vector<std::string> frames) -> uint32_t {
        if (frames.empty()) return 0;
        auto [it, fresh] = ids.emplace(std::move(frames), uint32_t(p.stacks.size()));
        if (fresh) p.stacks.push_back(it->first);
        return it->second;
    };
    std::unordered_map<uint64_t, uint32_t> kernel_ids;
    std::map<std::pair<uint32_t, uint64_t>, uint32_t> user_ids;
    const Symbolizer& sym = impl_->symbolizer;
    CommIndex comms;
    for (const auto& [k, count] : impl_->counts) {
        StackSample s;
        s.bucket_start_ns = p.start_ns + uint64_t(k.bucket) * p.bucket_ns;
        s.tgid = k.tgid;
        s.pid = k.pid;
        s.comm = comms.id(p, std::string_view(k.comm, strnlen(k.comm, sizeof k.comm)));
        s.count = count;
        s.handling = k.handling;
        if (k.kstack) {
            auto it = kernel_ids.find(k.kstack);
            if (it == kernel_ids.end()) {
                std::vector<std::string> f;
                auto raw = impl_->raw_stacks.find(k.kstack);
                if (raw != impl_->raw_stacks.end())
                    for (auto ip = raw->second.rbegin(); ip != raw->second.rend(); ++ip) f.push_back(sym.kernel_frame(*ip));
                it = kernel_ids.emplace(k.kstack, intern(std::move(f))).first;
            }
            s.kstack = it->second;
        }
        if (k.ustack) {
            auto key = std::make_pair(k.tgid, k.ustack);
            auto it = user_ids.find(key);
            if (it == user_ids.end()) {
                std::vector<std::string> f;
                auto raw = impl_->raw_stacks.find(k.ustack);
                if (raw != impl_->raw_stacks.end())
                    for (auto ip = raw->second.rbegin(); ip != raw->second.rend(); ++ip) {
                        std::string name = sym.user_frame(pid_t(k.tgid), *ip);
                        ++p.user_frames;
                        if (name[0] != '[') ++p.user_frames_named;
                        // Runs of one unnamed place ("[unknown]", "[libc.so.6]") say nothing more
                        // than one: without frame pointers they are mostly stack garbage.
                        if (name[0] == '[' && !f.empty() && f.back() == name) continue;
                        f.push_back(std::move(name));
                    }
                it = user_ids.emplace(key, intern(std::move(f))).first;
            }
            s.ustack = it->second;
        }
        p.samples.push_back(std::move(s));
    }
    return p;
}

}  // namespace ht
