// SPDX-License-Identifier: MIT
// The tracing seam's probe (core/tracing/trace_features.h): how each source would attach, as a pure
// function of what was probed and asked; the probe of a tracefs tree (a fake one here); the
// per-process cache. No root, nothing loaded.
#include "../../../temp_dir.h"
#include "core/tracing/trace_features.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <unistd.h>

using namespace ht;

namespace {

const TraceSourceDef kTwin{"kvm", "kvm_pio"};
const TraceSourceDef kClassic{"kvm", "kvm_exit", true};
const TraceSourceDef kOptIn{"kvm", "kvm_fpu", false, "it splits KVM_RUN's entry work from the rest", false,
                            OptIn::kvm_entry_split};
const TraceSourceDef kSched{"sched", "sched_switch", false, "costly", false, OptIn::sched};

const TraceSourceDef& def_named(const std::string& name) {
    for (const auto& d : trace_source_defs())
        if (d.name() == name) return d;
    ADD_FAILURE() << name << " is not a trace source";
    static const TraceSourceDef none{"none", "none"};
    return none;
}

}  // namespace

TEST(PlanAttach, ATwinTakesTpBtfWhereItsBtfTypeExistsElseRawTp) {
    AttachPlan p = plan_attach(kTwin, true, true, {});
    EXPECT_EQ(p.mode, AttachMode::tp_btf);
    EXPECT_EQ(p.note, "");
    p = plan_attach(kTwin, true, false, {});
    EXPECT_EQ(p.mode, AttachMode::raw_tp);
    EXPECT_EQ(p.note, "");
}

TEST(PlanAttach, RawTpOnlyTakesRawTpEvenWithBtf) {
    PlanOptions o;
    o.raw_tp_only = true;
    EXPECT_EQ(plan_attach(kTwin, true, true, o).mode, AttachMode::raw_tp);
    EXPECT_EQ(plan_attach(kTwin, true, false, o).mode, AttachMode::raw_tp);
}

TEST(PlanAttach, AMissingTracepointIsLeftOutWhateverTheBtf) {
    for (bool btf : {false, true})
        for (bool raw_only : {false, true}) {
            PlanOptions o;
            o.raw_tp_only = raw_only;
            const AttachPlan p = plan_attach(kTwin, false, btf, o);
            EXPECT_EQ(p.mode, AttachMode::none) << btf << raw_only;
            EXPECT_EQ(p.note, "tracepoint not in this kernel");
        }
    const AttachPlan c = plan_attach(kClassic, false, false, {});
    EXPECT_EQ(c.mode, AttachMode::none);
    EXPECT_EQ(c.note, "tracepoint not in this kernel");
}

TEST(PlanAttach, AnOptInSourceAttachesOnlyWhenAsked) {
    AttachPlan p = plan_attach(kOptIn, true, true, {});
    EXPECT_EQ(p.mode, AttachMode::none);
    EXPECT_EQ(p.note, "not asked for (it splits KVM_RUN's entry work from the rest)");
    PlanOptions asked;
    asked.kvm_entry_split = true;
    EXPECT_EQ(plan_attach(kOptIn, true, true, asked).mode, AttachMode::tp_btf);
    EXPECT_EQ(plan_attach(kOptIn, true, false, asked).mode, AttachMode::raw_tp);
    asked.raw_tp_only = true;
    EXPECT_EQ(plan_attach(kOptIn, true, true, asked).mode, AttachMode::raw_tp);
    // asked for or not, a missing tracepoint is what is said
    EXPECT_EQ(plan_attach(kOptIn, false, false, {}).note, "tracepoint not in this kernel");
    EXPECT_EQ(plan_attach(kOptIn, false, false, asked).note, "tracepoint not in this kernel");
    // and asking changes nothing for the others
    EXPECT_EQ(plan_attach(kTwin, true, true, PlanOptions{false, true}).mode, AttachMode::tp_btf);
}

// Each opt-in source answers to its own option: kvm_entry_split does not attach the scheduler's,
// sched does not attach kvm_fpu.
TEST(PlanAttach, EachOptInAnswersToItsOwnOption) {
    const PlanOptions split{false, true, false}, sched{false, false, true}, both{false, true, true};
    EXPECT_EQ(plan_attach(kSched, true, true, split).mode, AttachMode::none);
    EXPECT_EQ(plan_attach(kSched, true, true, split).note, "not asked for (costly)");
    EXPECT_EQ(plan_attach(kSched, true, true, sched).mode, AttachMode::tp_btf);
    EXPECT_EQ(plan_attach(kSched, true, false, sched).mode, AttachMode::raw_tp);
    EXPECT_EQ(plan_attach(kOptIn, true, true, sched).mode, AttachMode::none);
    EXPECT_EQ(plan_attach(kOptIn, true, true, both).mode, AttachMode::tp_btf);
    EXPECT_EQ(plan_attach(kSched, true, true, both).mode, AttachMode::tp_btf);
    EXPECT_EQ(plan_attach(kTwin, true, true, sched).mode, AttachMode::tp_btf);
    EXPECT_EQ(plan_attach(kSched, false, true, sched).note, "tracepoint not in this kernel");
}

// A classic tracepoint can be opt-in too (kvm:kvm_entry, by exit_times, which is on by default):
// left out with its reason when not asked for, a missing tracepoint said as such either way.
TEST(PlanAttach, AClassicOptInAttachesOnlyWhenAsked) {
    const TraceSourceDef entry{"kvm", "kvm_entry", true, "two clock reads per exit", false, OptIn::exit_times};
    PlanOptions o;
    EXPECT_TRUE(o.exit_times);
    EXPECT_EQ(plan_attach(entry, true, false, o).mode, AttachMode::tp);
    o.exit_times = false;
    AttachPlan p = plan_attach(entry, true, false, o);
    EXPECT_EQ(p.mode, AttachMode::none);
    EXPECT_EQ(p.note, "not asked for (two clock reads per exit)");
    EXPECT_EQ(plan_attach(entry, false, false, o).note, "tracepoint not in this kernel");
    // the other options do not stand in for it, nor it for them
    o.kvm_entry_split = o.sched = true;
    EXPECT_EQ(plan_attach(entry, true, false, o).mode, AttachMode::none);
    EXPECT_EQ(plan_attach(kClassic, true, false, o).mode, AttachMode::tp);
    o = PlanOptions{};
    EXPECT_EQ(plan_attach(kOptIn, true, true, o).mode, AttachMode::none);
    EXPECT_EQ(plan_attach(kSched, true, true, o).mode, AttachMode::none);
}

TEST(PlanAttach, ARefusedProgramForcesItsFallbackWithTheReason) {
    AttachPlan p = plan_attach(kTwin, true, true, {}, Forced::raw_tp, "tp_btf refused by this kernel (x): raw_tp");
    EXPECT_EQ(p.mode, AttachMode::raw_tp);
    EXPECT_EQ(p.note, "tp_btf refused by this kernel (x): raw_tp");
    p = plan_attach(kTwin, true, true, {}, Forced::off, "not loaded: the kernel refused it (y)");
    EXPECT_EQ(p.mode, AttachMode::none);
    EXPECT_EQ(p.note, "not loaded: the kernel refused it (y)");
    // a refusal names the refusal, also for an opt-in that was asked for
    p = plan_attach(kOptIn, true, true, PlanOptions{false, true}, Forced::off, "refused");
    EXPECT_EQ(p.mode, AttachMode::none);
    EXPECT_EQ(p.note, "refused");
    p = plan_attach(kClassic, true, false, {}, Forced::off, "not loaded: the kernel refused it (z)");
    EXPECT_EQ(p.mode, AttachMode::none);
    EXPECT_EQ(p.note, "not loaded: the kernel refused it (z)");
}

TEST(PlanAttach, AClassicTakesTpIgnoringBtfAndRawTpOnly) {
    for (bool btf : {false, true})
        for (bool raw_only : {false, true}) {
            PlanOptions o;
            o.raw_tp_only = raw_only;
            const AttachPlan p = plan_attach(kClassic, true, btf, o);
            EXPECT_EQ(p.mode, AttachMode::tp) << btf << raw_only;
            EXPECT_EQ(p.note, "");
        }
}

TEST(PlanAttach, ModesReadAsSourceStatusWords) {
    EXPECT_STREQ(to_string(AttachMode::none), "-");
    EXPECT_STREQ(to_string(AttachMode::tp_btf), "tp_btf");
    EXPECT_STREQ(to_string(AttachMode::raw_tp), "raw_tp");
    EXPECT_STREQ(to_string(AttachMode::tp), "tp");
}

// The table the tracer matches its programs against: every source once, twins before classics
// (the order SourceStatus lists them in), kvm_fpu opt-in by kvm_entry_split, kvm_entry by
// exit_times and the four scheduler sources by sched, each saying why, fork and exec the essential ones.
TEST(TraceSources, EachOnceTwinsThenClassicsOptInsByTheirOptionTwoEssential) {
    const auto& defs = trace_source_defs();
    EXPECT_EQ(defs.size(), 20u);
    const std::set<std::string> sched{"sched:sched_switch", "sched:sched_wakeup", "sched:sched_wakeup_new",
                                      "sched:sched_migrate_task"};
    std::set<std::string> names;
    bool classic_seen = false;
    for (const auto& d : defs) {
        EXPECT_TRUE(names.insert(d.name()).second) << d.name() << " twice";
        if (d.classic) classic_seen = true;
        else EXPECT_FALSE(classic_seen) << d.name() << " (a twin) after a classic";
        const OptIn want = d.name() == "kvm:kvm_fpu"     ? OptIn::kvm_entry_split
                           : d.name() == "kvm:kvm_entry" ? OptIn::exit_times
                           : sched.count(d.name())       ? OptIn::sched
                                                         : OptIn::none;
        EXPECT_EQ(d.opt_in, want) << d.name();
        EXPECT_EQ(d.opt_in_why != nullptr, want != OptIn::none) << d.name();
        if (sched.count(d.name())) {
            EXPECT_FALSE(d.classic) << d.name();
        }
        EXPECT_EQ(essential_source(d.name()), d.name() == "sched:sched_process_fork" ||
                                                  d.name() == "sched:sched_process_exec")
            << d.name();
    }
    EXPECT_TRUE(def_named("kvm:kvm_exit").classic);
    EXPECT_TRUE(def_named("kvm:kvm_entry").classic);
    EXPECT_FALSE(def_named("kvm:kvm_pio").classic);
    EXPECT_FALSE(essential_source("sched:sched_process_exit"));
    EXPECT_FALSE(essential_source("nonsense"));
}

// The probe's core on a fake tracefs: a tracepoint is there when its events/ directory is; the BTF
// lookup is asked about twins only; each plan follows.
TEST(ProbeSources, ReadsTracepointsFromTracefsAndPlansEach) {
    const TestTempDir tmp("/tmp/ht-tracefs-XXXXXX");
    const std::string root = tmp.path;
    for (const char* tp : {"sched/sched_process_exec", "sched/sched_process_fork", "kvm/kvm_pio", "kvm/kvm_mmio",
                           "kvm/kvm_exit", "kvm/kvm_fpu", "sched/sched_switch"})
        std::filesystem::create_directories(root + "/events/" + tp);
    std::set<std::string> asked;
    auto has_btf = [&](const std::string& category, const std::string& event) {
        asked.insert(category + ":" + event);
        return category == "sched" || event == "kvm_mmio";
    };
    const std::vector<SourceFeature> sources = probe_sources(root, has_btf);

    ASSERT_EQ(sources.size(), trace_source_defs().size());
    std::map<std::string, const SourceFeature*> by;
    for (std::size_t i = 0; i < sources.size(); ++i) {
        EXPECT_EQ(sources[i].name, trace_source_defs()[i].name());
        by[sources[i].name] = &sources[i];
    }
    auto planned = [&](const char* n) { return by.at(n)->planned; };
    EXPECT_EQ(planned("sched:sched_process_exec"), AttachMode::tp_btf);
    EXPECT_EQ(planned("sched:sched_process_fork"), AttachMode::tp_btf);
    EXPECT_EQ(planned("kvm:kvm_mmio"), AttachMode::tp_btf);
    EXPECT_EQ(planned("kvm:kvm_pio"), AttachMode::raw_tp);
    EXPECT_EQ(planned("kvm:kvm_exit"), AttachMode::tp);
    EXPECT_EQ(planned("kvm:kvm_fpu"), AttachMode::none);  // present, not asked for by default
    EXPECT_EQ(by.at("kvm:kvm_fpu")->note, "not asked for (it splits KVM_RUN's entry work from the rest)");
    EXPECT_TRUE(by.at("kvm:kvm_fpu")->tracepoint);
    EXPECT_EQ(by.at("kvm:kvm_fpu")->plan(PlanOptions{false, true}).mode, AttachMode::raw_tp);
    // the scheduler's: present, not asked for by default, tp_btf when asked; one missing stays out
    EXPECT_EQ(planned("sched:sched_switch"), AttachMode::none);
    EXPECT_EQ(by.at("sched:sched_switch")->note,
              "not asked for (a program runs at every context switch and wakeup of the host)");
    EXPECT_EQ(by.at("sched:sched_switch")->plan(PlanOptions{false, false, true}).mode, AttachMode::tp_btf);
    EXPECT_EQ(by.at("sched:sched_switch")->plan(PlanOptions{true, false, true}).mode, AttachMode::raw_tp);
    EXPECT_EQ(by.at("sched:sched_switch")->plan(PlanOptions{false, true, false}).mode, AttachMode::none);
    EXPECT_EQ(by.at("sched:sched_wakeup")->plan(PlanOptions{false, false, true}).note, "tracepoint not in this kernel");
    for (const char* n : {"sched:sched_process_exit", "kvm:kvm_entry", "ksm:ksm_stop_scan"}) {
        EXPECT_FALSE(by.at(n)->tracepoint) << n;
        EXPECT_EQ(planned(n), AttachMode::none) << n;
        EXPECT_EQ(by.at(n)->note, "tracepoint not in this kernel") << n;
    }
    EXPECT_TRUE(by.at("sched:sched_process_exit")->btf_type);  // known, though its tracepoint is missing
    EXPECT_FALSE(asked.count("kvm:kvm_exit")) << "a classic has no tp_btf type to look for";
    EXPECT_FALSE(by.at("kvm:kvm_exit")->btf_type);
    EXPECT_TRUE(asked.count("kvm:kvm_pio"));
}

// Probed once per process; whatever it found, each source's plan is plan_attach's for the default
// options (no root needed: as a user the probe sees less, and says so).
TEST(TraceFeaturesCache, ProbedOnceAndConsistent) {
    const TraceFeatures& a = trace_features();
    const TraceFeatures& b = trace_features();
    EXPECT_EQ(&a, &b);
    EXPECT_EQ(a.root, geteuid() == 0);
    EXPECT_EQ(a.btf, std::filesystem::exists("/sys/kernel/btf/vmlinux"));
    if (a.tracefs == TraceFeatures::Tracefs::unavailable) {
        EXPECT_TRUE(a.sources.empty());
        EXPECT_NE(a.tracefs_error, "");
    } else {
        ASSERT_EQ(a.sources.size(), trace_source_defs().size());
        for (const auto& s : a.sources) {
            const AttachPlan p = plan_attach(s.def, s.tracepoint, s.btf_type, {});
            EXPECT_EQ(s.planned, p.mode) << s.name;
            EXPECT_EQ(s.note, p.note) << s.name;
            EXPECT_EQ(a.source(s.name), &s);
        }
        if (a.tracefs == TraceFeatures::Tracefs::mountable) {  // the probe's own mount is undone
            EXPECT_FALSE(std::filesystem::exists(std::string(kTracefsDir) + "/events"));
        }
    }
    EXPECT_EQ(a.source("no:such_source"), nullptr);
}
