// SPDX-License-Identifier: MIT
#include "core/tracing/bpf_tracer.h"

#include "core/base/error.h"
#include "core/base/setting.h"
#include "core/tracing/libbpf_ptr.h"
#include "core/tracing/pending_ledger.h"
#include "core/tracing/trace_features.h"
#include "core/base/text.h"
#include "core/host/proc.h"
#include "hypetrace.h"
#include "trace.skel.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstddef>
#include <cstring>
#include <tuple>
#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <utility>

static_assert(HT_CNT_FAULT_USER == int(ht::CounterKind::fault_user));
static_assert(HT_CNT_KVM_EXIT == int(ht::CounterKind::kvm_exit));
static_assert(HT_CNT_KVM_RUN_LOG2 == int(ht::CounterKind::kvm_run_log2));
static_assert(HT_EV_RENAME == int(ht::EventType::rename));
static_assert(HT_EV_KSM_SCAN == int(ht::EventType::ksm_scan));
static_assert(HT_EV_PHASE == int(ht::EventType::phase));
static_assert(HT_CNT_KSM_MERGE == int(ht::CounterKind::ksm_merge));
static_assert(HT_CNT_KVM_RUN_ENTRY_NS == int(ht::CounterKind::kvm_run_entry_ns));
static_assert(HT_CNT_SCHED_RUNQ_NS == int(ht::CounterKind::sched_runq_ns));
static_assert(HT_CNT_SCHED_RUNQ_LOG2 == int(ht::CounterKind::sched_runq_log2));
static_assert(HT_CNT_SCHED_ONCPU_NS == int(ht::CounterKind::sched_oncpu_ns));
static_assert(HT_CNT_SCHED_PREEMPTED == int(ht::CounterKind::sched_preempted));
static_assert(HT_CNT_SCHED_SWITCH_VOL == int(ht::CounterKind::sched_switch_vol));
static_assert(HT_CNT_SCHED_MIGRATE == int(ht::CounterKind::sched_migrate));

namespace ht {
namespace {

bool verbose_libbpf = false;
std::string libbpf_log;  // the last messages, for error reports

int on_libbpf_print(enum libbpf_print_level level, const char* fmt, va_list args) {
    char buf[1024];
    vsnprintf(buf, sizeof buf, fmt, args);
    if (verbose_libbpf) fputs(buf, stderr);
    if (level != LIBBPF_DEBUG) {
        libbpf_log += buf;
        if (libbpf_log.size() > 8192) libbpf_log.erase(0, libbpf_log.size() - 8192);
    }
    return 0;
}

std::string last_log_line() { return last_line(libbpf_log); }

// From libbpf's log of a failed load: the program that failed ("prog 'NAME': failed to load") and
// the verifier's reason (the last line of its load log before the statistics).
void parse_load_failure(const std::string& log, std::string* prog, std::string* why) {
    std::istringstream in(log);
    std::string line, last_verifier;
    bool in_log = false;
    while (std::getline(in, line)) {
        if (line.find("-- BEGIN PROG LOAD LOG --") != std::string::npos) {
            in_log = true;
            last_verifier.clear();
            continue;
        }
        if (line.find("-- END PROG LOAD LOG --") != std::string::npos) {
            in_log = false;
            if (!last_verifier.empty()) *why = last_verifier;
            continue;
        }
        if (in_log) {
            if (line.rfind("processed ", 0) != 0 && line.rfind("verification time", 0) != 0 &&
                line.rfind("stack depth", 0) != 0 && line.find_first_not_of(" ") != std::string::npos)
                last_verifier = line;
            continue;
        }
        const auto p = line.find("prog '"), q = line.find("': failed to load");
        if (p != std::string::npos && q != std::string::npos && q > p + 6) *prog = line.substr(p + 6, q - p - 6);
    }
}

struct SkelDeleter {
    void operator()(trace_bpf* s) const { trace_bpf__destroy(s); }
};
using SkelPtr = std::unique_ptr<trace_bpf, SkelDeleter>;

// The map cpu_state (one struct ht_cpu_state per CPU id) mapped into this process: the pending
// counts are read from it with word-sized loads, as the programs write them, with no syscall per
// CPU; and zeroed in it between runs.
class CpuStates {
public:
    CpuStates() = default;
    CpuStates(int map_fd, uint32_t cpus) : cpus_(cpus) {
        const std::size_t page = std::size_t(sysconf(_SC_PAGESIZE));
        bytes_ = (cpus * sizeof(ht_cpu_state) + page - 1) / page * page;
        void* m = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_SHARED, map_fd, 0);
        if (m == MAP_FAILED) throw UserError(errno_text("cannot map hypetrace's per-CPU state (map cpu_state)", errno));
        at_ = static_cast<ht_cpu_state*>(m);
    }
    ~CpuStates() {
        if (at_) munmap(at_, bytes_);
    }
    CpuStates(CpuStates&& o) noexcept
        : at_(std::exchange(o.at_, nullptr)), bytes_(o.bytes_), cpus_(std::exchange(o.cpus_, 0)) {}
    CpuStates& operator=(CpuStates&& o) noexcept {
        std::swap(at_, o.at_);
        std::swap(bytes_, o.bytes_);
        std::swap(cpus_, o.cpus_);
        return *this;
    }
    const ht_cpu_state* at() const { return at_; }
    uint32_t cpus() const { return cpus_; }
    // Nothing pending, no cached lookup, no bucket: only while no program counts (between runs).
    void clear() {
        if (at_) std::memset(static_cast<void*>(at_), 0, cpus_ * sizeof(ht_cpu_state));
    }

private:
    ht_cpu_state* at_ = nullptr;
    std::size_t bytes_ = 0;
    uint32_t cpus_ = 0;
};

// How many CPU ids a map indexed by CPU needs room for: the highest possible CPU's + 1
// (/sys/devices/system/cpu/possible; ids may have gaps, so its count of CPUs is not enough).
uint32_t cpu_id_slots() {
    const std::vector<int> ids = parse_cpu_list(read_text("/sys/devices/system/cpu/possible").value_or(""));
    if (ids.empty())
        throw UserError("cannot read the possible CPUs from /sys/devices/system/cpu/possible: mount sysfs "
                        "(mount -t sysfs sysfs /sys) and run again");
    return uint32_t(*std::max_element(ids.begin(), ids.end()) + 1);
}

}  // namespace

// Members are destroyed in reverse order: the ring buffer, the links, the per-CPU state's mapping,
// the skeleton (detaching and freeing the programs and maps), then the hold on tracefs
// (unmounted if a hold mounted it and this was the last).
struct Tracer::Impl {
    std::optional<TracefsHold> tracefs;
    SkelPtr skel;
    CpuStates cpu_states;
    std::vector<BpfLinkPtr> links;
    RingBufferPtr rb;
    std::vector<ProcEvent> pending;
    std::vector<KsmScan> ksm_scans;
    std::vector<KsmScan> ksm_taken;  // scans take_ksm_scans() handed out this run, for the sink
    std::vector<CounterSample> drained;  // counters drain_counters() handed out this run, for the sink
    PendingLedger ledger;                 // what drains reported of the per-CPU pending counts
};

namespace {

// One raw tracepoint with its tp_btf and raw_tp twins.
struct Twin {
    const char* category;
    const char* name;
    bpf_program* btf_prog;
    bpf_program* raw_prog;
};

std::vector<Twin> twins(trace_bpf* s) {
    auto& p = s->progs;
    return {
        {"sched", "sched_process_exec", p.sched_process_exec_btf, p.sched_process_exec_raw},
        {"sched", "sched_process_fork", p.sched_process_fork_btf, p.sched_process_fork_raw},
        {"sched", "sched_process_exit", p.sched_process_exit_btf, p.sched_process_exit_raw},
        {"task", "task_rename", p.task_rename_btf, p.task_rename_raw},
        {"exceptions", "page_fault_user", p.page_fault_user_btf, p.page_fault_user_raw},
        {"exceptions", "page_fault_kernel", p.page_fault_kernel_btf, p.page_fault_kernel_raw},
        {"kvm", "kvm_fpu", p.kvm_fpu_btf, p.kvm_fpu_raw},
        {"raw_syscalls", "sys_enter", p.sys_enter_btf, p.sys_enter_raw},
        {"kvm", "kvm_userspace_exit", p.kvm_userspace_exit_btf, p.kvm_userspace_exit_raw},
        {"kvm", "kvm_pio", p.kvm_pio_btf, p.kvm_pio_raw},
        {"kvm", "kvm_mmio", p.kvm_mmio_btf, p.kvm_mmio_raw},
        {"ksm", "ksm_merge_one_page", p.ksm_merge_one_page_btf, p.ksm_merge_one_page_raw},
        {"ksm", "ksm_merge_with_ksm_page", p.ksm_merge_with_ksm_page_btf, p.ksm_merge_with_ksm_page_raw},
        {"ksm", "ksm_stop_scan", p.ksm_stop_scan_btf, p.ksm_stop_scan_raw},
        {"sched", "sched_switch", p.sched_switch_btf, p.sched_switch_raw},
        {"sched", "sched_wakeup", p.sched_wakeup_btf, p.sched_wakeup_raw},
        {"sched", "sched_wakeup_new", p.sched_wakeup_new_btf, p.sched_wakeup_new_raw},
        {"sched", "sched_migrate_task", p.sched_migrate_task_btf, p.sched_migrate_task_raw},
    };
}

struct Classic {
    const char* category;
    const char* name;
    bpf_program* prog;
};

std::vector<Classic> classics(trace_bpf* s) {
    return {{"kvm", "kvm_exit", s->progs.ht_kvm_exit}, {"kvm", "kvm_entry", s->progs.ht_kvm_entry}};
}

int handle_event(void* ctx, void* data, size_t size) {
    auto* impl = static_cast<Tracer::Impl*>(ctx);
    if (size < sizeof(ht_event)) return 0;
    const auto* e = static_cast<const ht_event*>(data);
    if (e->type == HT_EV_KSM_SCAN) {
        impl->ksm_scans.push_back({e->ts_ns, e->pid, e->tgid, e->ppid, e->aux});
        return 0;
    }
    ProcEvent ev;
    ev.type = EventType(e->type);
    ev.ts_ns = e->ts_ns;
    ev.guest = e->guest;
    ev.pid = e->pid;
    ev.tgid = e->tgid;
    ev.ppid = e->ppid;
    ev.aux = e->aux;
    ev.comm.assign(e->comm, strnlen(e->comm, sizeof e->comm));
    ev.path.assign(e->path, strnlen(e->path, sizeof e->path));
    impl->pending.push_back(std::move(ev));
    return 0;
}

// Every key of a map, walked with get_next_key (works on any kernel, unlike batch ops).
template <typename Key>
std::vector<Key> map_keys(int fd) {
    Key key{}, next{};
    std::vector<Key> keys;
    Key* prev = nullptr;
    while (bpf_map_get_next_key(fd, prev, &next) == 0) {
        keys.push_back(next);
        key = next;
        prev = &key;
    }
    return keys;
}

template <typename Key>
void clear_map(int fd) {
    for (auto& k : map_keys<Key>(fd)) bpf_map_delete_elem(fd, &k);
}

// The probe's view of one of the skeleton's sources (trace_features.cpp lists the same sources).
const SourceFeature& feature_of(const TraceFeatures& features, const char* category, const char* name) {
    const std::string source = std::string(category) + ":" + name;
    if (const SourceFeature* f = features.source(source)) return *f;
    if (features.tracefs == TraceFeatures::Tracefs::unavailable)  // mounted since the probe could not
        throw UserError("tracefs was not usable when hypetrace probed this host's trace sources (" +
                        features.tracefs_error + ")");
    throw std::logic_error("trace source " + source + " is missing from trace_source_defs()");
}

// A page fault touches the record's first two lines only: its own fields, then pending[0].
static_assert(offsetof(ht_cpu_state, pending) == 64 && sizeof(ht_pending) == 64 && sizeof(ht_cpu_state) % 128 == 0,
              "struct ht_cpu_state's hot lines moved (bpf/hypetrace.h)");

}  // namespace

Tracer::Tracer(const TracerOptions& opts) : opts_(opts), impl_(std::make_unique<Impl>()) {
    const TraceFeatures& features = trace_features();  // probed once per process
    if (!features.root)
        throw UserError("hypetrace must run as root: it loads BPF programs and starts guests (run it again as "
                        "root, e.g. with sudo)");
    if (!features.btf) throw UserError(no_btf_message());
    // Held now, not only at the probe: the host may have unmounted it since.
    if (!impl_->tracefs.emplace().ok())
        throw UserError(impl_->tracefs->error() + " (mount it with: mount -t tracefs nodev /sys/kernel/tracing)");
    verbose_libbpf = opts.verbose;
    libbpf_set_print(on_libbpf_print);

    // Open, choose twins, load. Each source starts from the probe's plan for these options
    // (trace_features.h: tracepoint present, tp_btf's BTF type present in vmlinux or the module's
    // BTF). A program the kernel refuses costs only its own source: the failing program is named
    // in libbpf's log; a tp_btf twin is retried as raw_tp (e.g. 6.1's verifier refuses tp_btf
    // access to kvm_pio's `void *data`), a raw_tp twin or a classic tracepoint program is left out
    // with the verifier's reason (e.g. a CO-RE relocation that cannot resolve on this kernel).
    // Every source not refused keeps its choice.
    const PlanOptions plan_opts{opts_.raw_tp_only, opts_.kvm_entry_split, opts_.sched, opts_.exit_times};
    std::map<std::string, std::pair<Forced, std::string>> forced;  // source -> what, why
    const std::size_t max_attempts = 40;  // each retry settles one program: far more than there are
    const uint32_t cpu_slots = cpu_id_slots();
    for (std::size_t attempt = 0;; ++attempt) {
        impl_->skel.reset(trace_bpf__open());
        if (!impl_->skel) throw UserError(errno_text("cannot open hypetrace's BPF object", errno));
        auto* ro = impl_->skel->rodata;
        ro->bucket_ns = opts_.bucket_ns;
        ro->ioctl_nr = SYS_ioctl;
        ro->kvm_run_cmd = 0xAE80;
        ro->attach_only = opts_.attach_only;
        ro->exit_times = opts_.exit_times;
        bpf_map__set_max_entries(impl_->skel->maps.cpu_state, cpu_slots);
        sources_.clear();
        std::map<std::string, std::pair<std::string, Forced>> prog_source;  // program -> source, on failure
        auto forced_of = [&](const std::string& source) {
            auto it = forced.find(source);
            return it != forced.end() ? it->second : std::pair<Forced, std::string>{Forced::none, ""};
        };
        for (const auto& t : twins(impl_->skel.get())) {
            const SourceFeature& feature = feature_of(features, t.category, t.name);
            SourceStatus st{feature.name, "-", false, ""};
            const auto [force, why] = forced_of(st.name);
            prog_source[bpf_program__name(t.btf_prog)] = {st.name, Forced::raw_tp};
            prog_source[bpf_program__name(t.raw_prog)] = {st.name, Forced::off};
            const AttachPlan plan = feature.plan(plan_opts, force, why);
            if (plan.mode != AttachMode::tp_btf) bpf_program__set_autoload(t.btf_prog, false);
            if (plan.mode != AttachMode::raw_tp) bpf_program__set_autoload(t.raw_prog, false);
            st.attach = to_string(plan.mode);
            st.note = plan.note;
            sources_.push_back(st);
        }
        for (const auto& c : classics(impl_->skel.get())) {
            const SourceFeature& feature = feature_of(features, c.category, c.name);
            SourceStatus st{feature.name, "tp", false, ""};
            const auto [force, why] = forced_of(st.name);
            prog_source[bpf_program__name(c.prog)] = {st.name, Forced::off};
            const AttachPlan plan = feature.plan(plan_opts, force, why);
            if (plan.mode != AttachMode::tp) bpf_program__set_autoload(c.prog, false);
            st.attach = to_string(plan.mode);
            st.note = plan.note;
            sources_.push_back(st);
        }
        libbpf_log.clear();
        int err = trace_bpf__load(impl_->skel.get());
        if (err == 0) break;
        impl_->skel.reset();
        std::string prog, why;
        parse_load_failure(libbpf_log, &prog, &why);
        auto ps = prog_source.find(prog);
        const bool essential =
            ps != prog_source.end() && ps->second.second == Forced::off && essential_source(ps->second.first);
        if (ps == prog_source.end() || essential || attempt + 1 >= max_attempts)
            throw UserError("cannot load hypetrace's BPF programs: " + std::string(strerror(-err)) + ": " +
                            (why.empty() ? last_log_line() : (prog.empty() ? "" : prog + ": ") + why) +
                            " (run with " + ref(Setting::verbose) + " for libbpf's log)");
        const auto& [source, force] = ps->second;
        forced[source] = {force, force == Forced::raw_tp ? "tp_btf refused by this kernel (" + why + "): raw_tp"
                                                         : "not loaded: the kernel refused it (" + why + ")"};
    }
    impl_->cpu_states = CpuStates(bpf_map__fd(impl_->skel->maps.cpu_state), cpu_slots);

    // Attach one by one, so that a source that cannot attach is reported, not fatal.
    std::size_t i = 0;
    auto attach = [&](bpf_program* prog, SourceStatus& st) {
        BpfLinkPtr link(bpf_program__attach(prog));
        if (!link) {
            st.attach = "-";
            st.note = errno_text("attach failed", errno);
            return;
        }
        impl_->links.push_back(std::move(link));
        st.attached = true;
    };
    for (const auto& t : twins(impl_->skel.get())) {
        SourceStatus& st = sources_[i++];
        if (st.attach == "tp_btf") attach(t.btf_prog, st);
        else if (st.attach == "raw_tp") attach(t.raw_prog, st);
    }
    for (const auto& c : classics(impl_->skel.get())) {
        SourceStatus& st = sources_[i++];
        if (st.attach == "tp") attach(c.prog, st);
    }
    for (const auto& st : sources_)
        if (essential_source(st.name) && !st.attached)
            throw UserError("cannot trace " + st.name + " (" + st.note + "): hypetrace needs it to follow guests");

    impl_->rb.reset(ring_buffer__new(bpf_map__fd(impl_->skel->maps.events), handle_event, impl_.get(), nullptr));
    if (!impl_->rb) throw UserError(errno_text("cannot create the BPF ring buffer", errno));
}

Tracer::~Tracer() = default;

void Tracer::begin_run(uint64_t origin_ns) {
    auto* s = impl_->skel.get();
    s->bss->spawner_tgid = 0;
    clear_tracked();
    std::memset(s->bss->first_run_seen, 0, sizeof s->bss->first_run_seen);
    // kvm_run_start is task storage: entries of earlier runs are told apart by their origin.
    // This run's guest ids may name other processes than the last run's: nothing pending.
    impl_->cpu_states.clear();
    // kvm_exit_start too is task storage, told apart by origin
    std::memset(s->bss->guest_phase, 0, sizeof s->bss->guest_phase);
    clear_map<ht_counter_key>(bpf_map__fd(s->maps.counters));
    clear_map<ht_counter_key>(bpf_map__fd(s->maps.run_exits));
    impl_->ledger.clear();
    ring_buffer__consume(impl_->rb.get());
    impl_->pending.clear();
    impl_->ksm_scans.clear();
    impl_->ksm_taken.clear();
    impl_->drained.clear();
    s->bss->lost_counts = 0;
    s->bss->lost_events = 0;
    s->bss->lost_tracked = 0;
    origin_ns_ = origin_ns;
    s->bss->origin_ns = origin_ns;
}

void Tracer::arm_spawner(uint32_t guest) {
    impl_->skel->bss->spawner_guest = guest;
    __atomic_store_n(&impl_->skel->bss->spawner_tgid, uint32_t(getpid()), __ATOMIC_SEQ_CST);
}

void Tracer::disarm_spawner() { __atomic_store_n(&impl_->skel->bss->spawner_tgid, 0u, __ATOMIC_SEQ_CST); }

void Tracer::set_phase_port(uint16_t port) { impl_->skel->bss->phase_port = port; }

int Tracer::run_state_map_fd() const { return bpf_map__fd(impl_->skel->maps.kvm_run_start); }

void Tracer::note_exits_handled(bool on) { impl_->skel->bss->note_io = on ? 1 : 0; }

void Tracer::track(pid_t tgid, uint32_t guest) {
    uint32_t key = uint32_t(tgid);
    bpf_map_update_elem(bpf_map__fd(impl_->skel->maps.tracked), &key, &guest, BPF_ANY);
    tracked_changed();
}

// After every change to `tracked`: the CPUs' cached lookups (trace.bpf.c's cached_guest_of) are stale.
void Tracer::tracked_changed() { __atomic_fetch_add(&impl_->skel->bss->tracked_gen, 1u, __ATOMIC_SEQ_CST); }

void Tracer::clear_tracked() {
    clear_map<uint32_t>(bpf_map__fd(impl_->skel->maps.tracked));
    tracked_changed();
}

int Tracer::events_fd() const { return ring_buffer__epoll_fd(impl_->rb.get()); }

void Tracer::poll_events(int timeout_ms) {
    if (timeout_ms > 0) ring_buffer__poll(impl_->rb.get(), timeout_ms);
    else ring_buffer__consume(impl_->rb.get());
}

std::vector<KsmScan> Tracer::take_ksm_scans() {
    std::vector<KsmScan> out;
    out.swap(impl_->ksm_scans);
    if (sink_) impl_->ksm_taken.insert(impl_->ksm_taken.end(), out.begin(), out.end());
    return out;
}

std::vector<CounterSample> Tracer::drain_counters() {
    std::vector<CounterSample> out = take_counters(false);
    if (sink_) impl_->drained.insert(impl_->drained.end(), out.begin(), out.end());
    return out;
}

namespace {

std::array<uint64_t, 3> key_words(const ht_counter_key& k) {
    static_assert(sizeof(ht_counter_key) == 3 * sizeof(uint64_t));
    std::array<uint64_t, 3> w;
    std::memcpy(w.data(), &k, sizeof k);
    return w;
}

ht_counter_key key_of(const std::array<uint64_t, 3>& w) {
    ht_counter_key k;
    std::memcpy(&k, w.data(), sizeof k);
    return k;
}

// Every CPU's pending slots (struct ht_cpu_state), in PendingLedger's order: cpu * slots + slot.
// Read while the programs write them: each 8-byte word at once, in the struct's order (key,
// count, ..., seq), as the ledger expects; acquire loads keep that order (free on x86: plain loads).
std::vector<PendingSlot> read_pending(const CpuStates& states) {
    static_assert(sizeof(ht_pending) == 8 * sizeof(uint64_t) && offsetof(ht_pending, count) == 24 &&
                  offsetof(ht_pending, seq) == 56);
    auto word = [](const ht_pending& p, std::size_t i) {
        return __atomic_load_n(reinterpret_cast<const uint64_t*>(&p) + i, __ATOMIC_ACQUIRE);
    };
    std::vector<PendingSlot> out(std::size_t(states.cpus()) * HT_PENDING_SLOTS);
    for (std::size_t c = 0; c < states.cpus(); ++c)
        for (int slot = 0; slot < HT_PENDING_SLOTS; ++slot) {
            const ht_pending& p = states.at()[c].pending[slot];
            PendingSlot& o = out[c * HT_PENDING_SLOTS + std::size_t(slot)];
            o.key = {word(p, 0), word(p, 1), word(p, 2)};
            o.count = word(p, 3);
            o.ns = word(p, 4);
            o.min_ns = word(p, 5);
            o.max_ns = word(p, 6);
            o.seq = word(p, 7);
        }
    return out;
}

int map_of_slot(std::size_t i) { return int(i % HT_PENDING_SLOTS) == HT_PENDING_RUN_EXITS ? 1 : 0; }

}  // namespace

std::vector<CounterSample> Tracer::take_counters(bool final) {
    auto* s = impl_->skel.get();
    std::vector<CounterSample> out;
    // 1. The hash maps, each entry read and deleted at once.
    std::vector<std::pair<ht_counter_key, uint64_t>> counted;
    int fd = bpf_map__fd(s->maps.counters);
    std::vector<ht_counter_key> keys(8192);
    std::vector<uint64_t> vals(keys.size());
    uint64_t batch = 0;
    bool first = true, batched = true;
    for (;;) {
        uint32_t n = uint32_t(keys.size());
        LIBBPF_OPTS(bpf_map_batch_opts, bopts);
        int err = bpf_map_lookup_and_delete_batch(fd, first ? nullptr : &batch, &batch, keys.data(), vals.data(),
                                                  &n, &bopts);
        for (uint32_t j = 0; j < n; ++j) counted.push_back({keys[j], vals[j]});
        first = false;
        if (err == 0) continue;
        if (err == -ENOENT) break;
        if (err == -ENOSPC && n == 0) {  // one hash bucket holds more than the buffer
            keys.resize(keys.size() * 2);
            vals.resize(keys.size());
            continue;
        }
        batched = false;  // batch ops unsupported: fall back to iterate + delete
        break;
    }
    if (!batched) {
        for (auto& k : map_keys<ht_counter_key>(fd)) {
            uint64_t v = 0;
            if (bpf_map_lookup_and_delete_elem(fd, &k, &v) == 0 ||
                (bpf_map_lookup_elem(fd, &k, &v) == 0 && bpf_map_delete_elem(fd, &k) == 0))
                counted.push_back({k, v});
        }
    }
    std::vector<std::pair<ht_counter_key, ht_run_value>> runs;
    const int rfd = bpf_map__fd(s->maps.run_exits);
    for (auto& k : map_keys<ht_counter_key>(rfd)) {
        ht_run_value v{};
        if (bpf_map_lookup_and_delete_elem(rfd, &k, &v) != 0 &&
            (bpf_map_lookup_elem(rfd, &k, &v) != 0 || bpf_map_delete_elem(rfd, &k) != 0))
            continue;
        runs.push_back({k, v});
    }
    // 2. Counts still pending on each CPU, read twice, never written while the programs run
    // (core/pending_ledger.h): each run of counts' growth since the last drain; what was reported
    // of a run that has since moved to its map comes off that map's value.
    const std::vector<PendingSlot> a = read_pending(impl_->cpu_states), b = read_pending(impl_->cpu_states);
    const std::vector<PendingSlot> growth = impl_->ledger.advance(a, b, map_of_slot);
    for (auto& [k, v] : counted) {
        const uint64_t left = impl_->ledger.settle(0, key_words(k), v);
        if (left) out.push_back({k.guest, k.bucket, CounterKind(k.kind), k.sub, left, k.phase});
    }
    for (auto& [k, v] : runs) {
        uint64_t ns = v.ns;
        v.count = impl_->ledger.settle(1, key_words(k), v.count, &ns);
        v.ns = ns;
    }
    for (std::size_t i = 0; i < growth.size(); ++i) {
        const PendingSlot& g = growth[i];
        if (!g.count) continue;
        const ht_counter_key k = key_of(g.key);
        if (map_of_slot(i) == 1) {
            runs.push_back({k, ht_run_value{g.count, g.ns, g.min_ns, g.max_ns}});
            continue;
        }
        CounterSample add{k.guest, k.bucket, CounterKind(k.kind), k.sub, g.count, k.phase};
        auto same = std::find_if(out.begin(), out.end(), [&](const CounterSample& o) {
            return o.guest == add.guest && o.bucket == add.bucket && o.kind == add.kind && o.sub == add.sub &&
                   o.phase == add.phase;
        });
        if (same != out.end()) same->value += g.count;
        else out.push_back(add);
    }
    if (final) {  // the run's guests have stopped: nothing left pending for the next run
        impl_->cpu_states.clear();
        impl_->ledger.clear();
    }
    // Ends of KVM_RUN (struct ht_run_value): one kernel record per (reason, log2 duration) gives
    // the exits to userspace by reason, the duration histogram, the time inside and the calls.
    {
        std::map<std::tuple<uint32_t, uint32_t, uint32_t, uint64_t>, uint64_t> by_reason, by_log2;
        struct Totals {
            uint64_t calls = 0, ns = 0, min_ns = 0, max_ns = 0;
        };
        std::map<std::tuple<uint32_t, uint32_t, uint32_t>, Totals> totals;
        for (const auto& [k, v] : runs) {
            if (!v.count) continue;  // all of it reported while it was pending
            by_reason[{k.guest, k.bucket, k.phase, k.sub & 0xffffffffu}] += v.count;
            by_log2[{k.guest, k.bucket, k.phase, k.sub >> 32}] += v.count;
            auto& t = totals[{k.guest, k.bucket, k.phase}];
            t.calls += v.count;
            t.ns += v.ns;
            keep_min(t.min_ns, v.min_ns);
            t.max_ns = std::max<uint64_t>(t.max_ns, v.max_ns);
        }
        for (const auto& [k, v] : by_reason)
            out.push_back({std::get<0>(k), std::get<1>(k), CounterKind::kvm_user_exit, std::get<3>(k), v, std::get<2>(k)});
        for (const auto& [k, v] : by_log2)
            out.push_back({std::get<0>(k), std::get<1>(k), CounterKind::kvm_run_log2, std::get<3>(k), v, std::get<2>(k)});
        for (const auto& [k, v] : totals) {
            out.push_back({std::get<0>(k), std::get<1>(k), CounterKind::kvm_run, 0, v.calls, std::get<2>(k)});
            out.push_back({std::get<0>(k), std::get<1>(k), CounterKind::kvm_run_ns, 0, v.ns, std::get<2>(k)});
            if (v.min_ns)
                out.push_back({std::get<0>(k), std::get<1>(k), CounterKind::kvm_run_min_ns, 0, v.min_ns, std::get<2>(k)});
            if (v.max_ns)
                out.push_back({std::get<0>(k), std::get<1>(k), CounterKind::kvm_run_max_ns, 0, v.max_ns, std::get<2>(k)});
        }
    }
    return out;
}

RunTrace Tracer::end_run() {
    auto* s = impl_->skel.get();
    disarm_spawner();
    RunTrace rt;
    ring_buffer__consume(impl_->rb.get());
    rt.events = std::move(impl_->pending);
    impl_->pending.clear();
    rt.origin_ns = origin_ns_;
    rt.bucket_ns = opts_.bucket_ns;
    rt.counters = take_counters(true);
    rt.lost_counts = s->bss->lost_counts;
    rt.lost_events = s->bss->lost_events;
    rt.lost_tracked = s->bss->lost_tracked;
    clear_tracked();
    if (sink_) {  // the scans not taken yet stay for take_ksm_scans()
        std::vector<KsmScan> scans = impl_->ksm_taken;
        scans.insert(scans.end(), impl_->ksm_scans.begin(), impl_->ksm_scans.end());
        impl_->ksm_taken.clear();
        RunTrace all = rt;  // with the counters drain_counters() handed out during the run
        all.counters.insert(all.counters.begin(), impl_->drained.begin(), impl_->drained.end());
        impl_->drained.clear();
        sink_->run_ended(all, scans);
    }
    return rt;
}

}  // namespace ht
