// SPDX-License-Identifier: MIT
// What this host offers the tracer, probed once per process and never by loading a program: root,
// BTF, tracefs, and per trace source whether its tracepoint exists and whether its tp_btf type
// (btf_trace_<event>, in vmlinux or the module's BTF) does, hence how it would attach. The tracer
// (bpf_tracer) starts from this plan; `hypetrace host` shows it without loading anything.
#pragma once
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace ht {

// How a source attaches: a tp_btf or raw_tp twin of bpf/trace.bpf.c, a classic tracepoint
// program (tp), or not at all.
enum class AttachMode { none, tp_btf, raw_tp, tp };
// "-", "tp_btf", "raw_tp", "tp" (SourceStatus::attach's words).
const char* to_string(AttachMode m);

// The tracer option that asks for an opt-in source (TracerOptions, PlanOptions).
enum class OptIn { none, kvm_entry_split, sched, exit_times };

// One trace source of bpf/trace.bpf.c, as the program set defines it (no probing).
struct TraceSourceDef {
    const char* category;  // "kvm"
    const char* event;     // "kvm_exit"
    bool classic = false;  // one classic tracepoint program (tp), not a tp_btf/raw_tp twin
    // An opt-in source (opt_in below): why it costs.
    const char* opt_in_why = nullptr;
    // Hypetrace cannot follow guests without it: a load or attach failure is fatal, not skipped.
    bool essential = false;
    // Attached only when this option asks for it (kvm:kvm_fpu: kvm_entry_split; sched:sched_switch,
    // sched_wakeup, sched_wakeup_new, sched_migrate_task: sched; kvm:kvm_entry: exit_times); none:
    // always attached.
    OptIn opt_in = OptIn::none;

    std::string name() const { return std::string(category) + ":" + event; }
};

// Every source, in the order the tracer reports them (SourceStatus): the twins, then the classics.
const std::vector<TraceSourceDef>& trace_source_defs();
// Whether `name` ("sched:sched_process_fork") is a source hypetrace cannot do without.
bool essential_source(std::string_view name);

// What an earlier load of the program set forces on a source: the kernel's verifier refused its
// tp_btf twin (so raw_tp), or refused its last program (so nothing).
enum class Forced { none, raw_tp, off };

// The tracer's options that change a plan (TracerOptions' of the same names).
struct PlanOptions {
    bool raw_tp_only = false;      // raw_tp even where tp_btf would load
    bool kvm_entry_split = false;  // attach kvm:kvm_fpu too
    bool sched = false;            // attach the scheduler's sources too
    bool exit_times = true;        // attach kvm:kvm_entry (each exit's time in KVM)

    bool asked(OptIn o) const {
        return o == OptIn::none || (o == OptIn::kvm_entry_split && kvm_entry_split) || (o == OptIn::sched && sched) ||
               (o == OptIn::exit_times && exit_times);
    }
};

struct AttachPlan {
    AttachMode mode = AttachMode::none;
    std::string note;  // why not attached, or why not the first choice; "" otherwise
};

// The choice for one source, a pure function of what was probed and asked: a missing tracepoint,
// an opt-in not asked for or a refused last program leaves it out (saying why); otherwise tp for a
// classic, tp_btf for a twin whose BTF type exists unless raw_tp is forced or asked, else raw_tp.
// `forced_note` is the note a forced choice carries.
AttachPlan plan_attach(const TraceSourceDef& def, bool tracepoint, bool btf_type, const PlanOptions& opts,
                       Forced forced = Forced::none, const std::string& forced_note = "");

// One source as probed on this host, with its plan under the default options.
struct SourceFeature {
    TraceSourceDef def;
    std::string name;         // "category:event"
    bool tracepoint = false;  // <tracefs>/events/<category>/<event> exists
    bool btf_type = false;    // btf_trace_<event> exists (twins only; false for a classic)
    AttachMode planned = AttachMode::none;
    std::string note;  // the plan's note

    AttachPlan plan(const PlanOptions& opts, Forced forced = Forced::none, const std::string& forced_note = "") const {
        return plan_attach(def, tracepoint, btf_type, opts, forced, forced_note);
    }
};

// Whether btf_trace_<event> exists for (category, event).
using BtfTypeLookup = std::function<bool(const std::string& category, const std::string& event)>;

// Every source of trace_source_defs() probed against `tracefs` (a mounted tracefs: events/ below
// it) and `has_btf_type`, planned with the default options. The probe's core, for tests.
std::vector<SourceFeature> probe_sources(const std::string& tracefs, const BtfTypeLookup& has_btf_type);

struct TraceFeatures {
    bool root = false;  // effective uid 0: may load BPF programs
    bool btf = false;   // /sys/kernel/btf/vmlinux exists (CO-RE needs it)
    bool vmlinux_btf_loaded = false;  // and libbpf could load it (else no source plans tp_btf)
    enum class Tracefs { mounted, mountable, unavailable };
    // At the probe: mounted; or not mounted, but a mount (a TracefsHold of the probe's) worked;
    // or neither (not root, or the mount failed: tracefs_error says why, in one line).
    Tracefs tracefs = Tracefs::unavailable;
    std::string tracefs_error;
    std::vector<SourceFeature> sources;  // empty when tracefs was unavailable
    std::string libbpf_log;              // libbpf's messages while probing BTF (not debug)

    const SourceFeature* source(std::string_view name) const;
};
// "mounted", "mountable", "unavailable".
const char* to_string(TraceFeatures::Tracefs t);

// The one line for a kernel without BTF (no /sys/kernel/btf/vmlinux): the tracer throws it,
// `hypetrace host` shows it.
std::string no_btf_message();

// This host's features, probed on the first call (mounting tracefs for a moment if it is not
// mounted and this process is root; loading BTF, never a BPF program) and cached for the process.
const TraceFeatures& trace_features();

// Where tracefs is (and is mounted by the tracer if it is not).
inline constexpr const char* kTracefsDir = "/sys/kernel/tracing";

// tracefs kept mounted while one of these lives in the process: the first mounts it where it is
// not mounted, the last unmounts it if a hold mounted it; so no tracer unmounts it under another
// of the same process, nor one the host mounted. hypetrace's main enters a mount namespace of its
// own first (core/host/mount_ns.h), so the mount never reaches the host and goes with the process
// even when it is killed; the unmount here serves a process that could not (and the tests').
class TracefsHold {
public:
    TracefsHold();  // never throws: ok() false and error() say it could not be mounted
    ~TracefsHold();
    TracefsHold(const TracefsHold&) = delete;
    TracefsHold& operator=(const TracefsHold&) = delete;
    bool ok() const { return ok_; }
    bool mounted_it() const { return mounted_it_; }  // this hold mounted it (it was not mounted)
    const std::string& error() const { return error_; }  // one line, when !ok()

private:
    bool ok_ = false, mounted_it_ = false;
    std::string error_;
};

}  // namespace ht
