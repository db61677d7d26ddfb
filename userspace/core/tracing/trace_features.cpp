// SPDX-License-Identifier: MIT
#include "core/tracing/trace_features.h"

#include "core/base/error.h"
#include "core/tracing/libbpf_ptr.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <map>
#include <mutex>
#include <optional>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

namespace ht {
namespace {

bool exists(const std::string& path) {
    struct stat st {};
    return stat(path.c_str(), &st) == 0;
}

// A tracepoint's BTF (btf_trace_<name>) is in vmlinux, or, for a module's tracepoints (kvm:*
// where kvm is a module, as on stock distribution kernels), in /sys/kernel/btf/<module>, split
// on vmlinux's. libbpf finds either when it attaches tp_btf; the probe must too.
class BtfTypes {
public:
    BtfTypes() {
        btf* b = btf__load_vmlinux_btf();
        if (!libbpf_get_error(b)) vmlinux_.reset(b);
    }
    // The modules' BTF is split on vmlinux's: freed first, whatever the members' order says.
    ~BtfTypes() { modules_.clear(); }
    BtfTypes(const BtfTypes&) = delete;
    BtfTypes& operator=(const BtfTypes&) = delete;

    bool vmlinux_loaded() const { return vmlinux_ != nullptr; }

    bool has(const std::string& category, const std::string& event) {
        const std::string type = "btf_trace_" + event;
        if (!vmlinux_) return false;
        if (btf__find_by_name_kind(vmlinux_.get(), type.c_str(), BTF_KIND_TYPEDEF) >= 0) return true;
        // the module named like the event's category (kvm:* in kvm); only a loaded module has BTF
        if (!exists("/sys/kernel/btf/" + category)) return false;
        auto it = modules_.find(category);
        if (it == modules_.end()) {
            btf* b = btf__load_module_btf(category.c_str(), vmlinux_.get());
            it = modules_.emplace(category, BtfPtr(libbpf_get_error(b) ? nullptr : b)).first;
        }
        return it->second && btf__find_by_name_kind(it->second.get(), type.c_str(), BTF_KIND_TYPEDEF) >= 0;
    }

private:
    BtfPtr vmlinux_;                        // the base: declared first, so destroyed last
    std::map<std::string, BtfPtr> modules_;  // category -> its module's BTF (null: none)
};

// libbpf's messages while probing (not its debug chatter), kept instead of printed.
std::string* probe_log = nullptr;

int on_probe_print(enum libbpf_print_level level, const char* fmt, va_list args) {
    if (level == LIBBPF_DEBUG || !probe_log) return 0;
    char buf[1024];
    vsnprintf(buf, sizeof buf, fmt, args);
    *probe_log += buf;
    return 0;
}

TraceFeatures probe() {
    TraceFeatures f;
    f.root = geteuid() == 0;
    f.btf = exists("/sys/kernel/btf/vmlinux");
    std::optional<TracefsHold> hold;
    if (!f.root && !exists(std::string(kTracefsDir) + "/events")) {
        f.tracefs_error = "not root: tracefs neither seen nor mounted";
    } else if (hold.emplace(); hold->ok()) {
        f.tracefs = hold->mounted_it() ? TraceFeatures::Tracefs::mountable : TraceFeatures::Tracefs::mounted;
    } else {
        f.tracefs_error = hold->error();
    }
    if (f.tracefs != TraceFeatures::Tracefs::unavailable) {
        probe_log = &f.libbpf_log;
        libbpf_print_fn_t before = libbpf_set_print(on_probe_print);
        {
            BtfTypes types;
            f.vmlinux_btf_loaded = types.vmlinux_loaded();
            f.sources = probe_sources(kTracefsDir, [&](const std::string& c, const std::string& e) { return types.has(c, e); });
        }
        libbpf_set_print(before);
        probe_log = nullptr;
    }
    return f;
}

// The holds of this process: how many live, and whether one of them mounted tracefs.
std::mutex tracefs_mutex;
unsigned tracefs_holds = 0;
bool tracefs_mounted_by_hold = false;

}  // namespace

TracefsHold::TracefsHold() {
    std::lock_guard<std::mutex> lock(tracefs_mutex);
    // Checked at every hold, not the first only: the host may have mounted it since, or unmounted it.
    if (!exists(std::string(kTracefsDir) + "/events")) {
        if (mount("nodev", kTracefsDir, "tracefs", 0, nullptr) != 0) {
            error_ = errno_text("tracefs is not mounted and mounting it on /sys/kernel/tracing failed", errno);
            return;
        }
        mounted_it_ = tracefs_mounted_by_hold = true;
    }
    ok_ = true;
    ++tracefs_holds;
}

TracefsHold::~TracefsHold() {
    if (!ok_) return;
    std::lock_guard<std::mutex> lock(tracefs_mutex);
    if (--tracefs_holds == 0 && tracefs_mounted_by_hold) {
        umount2(kTracefsDir, MNT_DETACH);
        tracefs_mounted_by_hold = false;
    }
}

const char* to_string(AttachMode m) {
    switch (m) {
    case AttachMode::tp_btf: return "tp_btf";
    case AttachMode::raw_tp: return "raw_tp";
    case AttachMode::tp: return "tp";
    case AttachMode::none: break;
    }
    return "-";
}

const char* to_string(TraceFeatures::Tracefs t) {
    switch (t) {
    case TraceFeatures::Tracefs::mounted: return "mounted";
    case TraceFeatures::Tracefs::mountable: return "mountable";
    case TraceFeatures::Tracefs::unavailable: break;
    }
    return "unavailable";
}

std::string no_btf_message() {
    return "this kernel has no BTF (/sys/kernel/btf/vmlinux is missing): hypetrace's CO-RE programs "
           "need a kernel built with CONFIG_DEBUG_INFO_BTF=y";
}

const std::vector<TraceSourceDef>& trace_source_defs() {
    static constexpr const char* kSchedWhy = "a program runs at every context switch and wakeup of the host";
    static const std::vector<TraceSourceDef> defs{
        {"sched", "sched_process_exec", false, nullptr, true},
        {"sched", "sched_process_fork", false, nullptr, true},
        {"sched", "sched_process_exit"},
        {"task", "task_rename"},
        {"exceptions", "page_fault_user"},
        {"exceptions", "page_fault_kernel"},
        {"kvm", "kvm_fpu", false, "it splits KVM_RUN's entry work from the rest", false, OptIn::kvm_entry_split},
        {"raw_syscalls", "sys_enter"},
        {"kvm", "kvm_userspace_exit"},
        {"kvm", "kvm_pio"},
        {"kvm", "kvm_mmio"},
        {"ksm", "ksm_merge_one_page"},
        {"ksm", "ksm_merge_with_ksm_page"},
        {"ksm", "ksm_stop_scan"},
        {"sched", "sched_switch", false, kSchedWhy, false, OptIn::sched},
        {"sched", "sched_wakeup", false, kSchedWhy, false, OptIn::sched},
        {"sched", "sched_wakeup_new", false, kSchedWhy, false, OptIn::sched},
        {"sched", "sched_migrate_task", false, kSchedWhy, false, OptIn::sched},
        {"kvm", "kvm_exit", true},
        {"kvm", "kvm_entry", true, "two clock reads per exit: each exit's time in KVM", false, OptIn::exit_times},
    };
    return defs;
}

bool essential_source(std::string_view name) {
    for (const auto& d : trace_source_defs())
        if (d.essential && d.name() == name) return true;
    return false;
}

AttachPlan plan_attach(const TraceSourceDef& def, bool tracepoint, bool btf_type, const PlanOptions& opts,
                       Forced forced, const std::string& forced_note) {
    const bool not_asked = !opts.asked(def.opt_in);
    const std::string why = def.opt_in_why ? def.opt_in_why : "opt-in";
    if (!tracepoint || not_asked || forced == Forced::off)
        return {AttachMode::none, forced == Forced::off ? forced_note
                                  : tracepoint          ? "not asked for (" + why + ")"
                                                        : "tracepoint not in this kernel"};
    if (def.classic) return {AttachMode::tp, ""};
    if (!opts.raw_tp_only && forced == Forced::none && btf_type) return {AttachMode::tp_btf, ""};
    return {AttachMode::raw_tp, forced == Forced::none ? "" : forced_note};
}

std::vector<SourceFeature> probe_sources(const std::string& tracefs, const BtfTypeLookup& has_btf_type) {
    std::vector<SourceFeature> out;
    for (const auto& d : trace_source_defs()) {
        SourceFeature s;
        s.def = d;
        s.name = d.name();
        s.tracepoint = exists(tracefs + "/events/" + d.category + "/" + d.event);
        s.btf_type = !d.classic && has_btf_type && has_btf_type(d.category, d.event);
        const AttachPlan p = s.plan(PlanOptions{});
        s.planned = p.mode;
        s.note = p.note;
        out.push_back(std::move(s));
    }
    return out;
}

const SourceFeature* TraceFeatures::source(std::string_view name) const {
    for (const auto& s : sources)
        if (s.name == name) return &s;
    return nullptr;
}

const TraceFeatures& trace_features() {
    static const TraceFeatures features = probe();
    return features;
}

}  // namespace ht
