// SPDX-License-Identifier: MIT
#include "experiments/memory.h"

#include "core/base/clock.h"
#include "core/host/console.h"
#include "core/base/error.h"
#include "core/base/setting.h"
#include "core/host/files.h"
#include "core/host/interrupt.h"
#include "experiments/fleet.h"
#include "core/views/plot.h"
#include "core/views/report.h"

#include <iostream>
#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <poll.h>
#include <sstream>
#include <unistd.h>

namespace ht {
namespace {

double kb_to_mb(uint64_t kb) { return double(kb) / 1024.0; }

// A kernel-pair series' kernels after its name (" 6.1.0-57+6.1.0-47"); "" for identical guests.
std::string kernels_suffix(const std::vector<std::string>& kernels) {
    std::string k;
    for (const auto& r : kernels) k += (k.empty() ? " " : "+") + short_release(r);
    return k;
}

// The technique, and a kernel-pair series' kernels ("KVM (TCG) 6.1.0-57+6.1.0-47").
std::string series_label(const MemorySeries& s) { return s.technique.label + kernels_suffix(s.kernels); }

struct Series {
    TraceBackend& tracer;
    const MemoryHost& host;  // readings
    const MemoryConfig& cfg;
    const MemoryTechnique& t;
    bool ksm_on;
    MemorySeries out;  // out.kernels: a kernel-pair series' kernel of each guest, in order
    uint64_t origin = 0;
    GuestFleet fleet;                                // stops every guest on every exit path
    std::vector<std::unique_ptr<FleetMember>>& guests;
    std::vector<KsmScan> scans;                      // absolute times
    // Where the KSM burndown comes from: ksm:ksm_stop_scan (merges per full scan, counted in the
    // kernel), or, where the kernel has no ksm:* tracepoints (before 6.7), /sys/kernel/mm/ksm read
    // at each sample: a full scan ended when full_scans grew, its merges the growth of pages_sharing.
    bool ksm_from_sysfs = false;
    KsmCounters last_ksm{};

    static FleetConfig fleet_config(const MemoryConfig& c, const MemoryTechnique& tech) {
        FleetConfig f;
        f.driver = tech.driver;
        f.id = tech.id;
        f.label = tech.label;
        f.variant = tech.variant;
        f.images = c.images;
        f.scratch_parent = c.scratch_parent;
        f.tag = "mem";
        f.accel = c.accel.accel;
        f.rootfs = c.rootfs;
        f.boot_timeout_s = c.boot_timeout_s > 0 ? c.boot_timeout_s : default_ready_timeout_s(tech.driver->kind(), c.accel.accel);
        return f;
    }
    Series(TraceBackend& tr, const MemoryHost& h, const MemoryConfig& c, const MemoryTechnique& tech, bool on,
           std::vector<std::string> kernels_in_order, uint32_t first_id)
        : tracer(tr), host(h), cfg(c), t(tech), ksm_on(on), fleet(fleet_config(c, tech), &tr, first_id),
          guests(fleet.members()) {
        out.kernels = std::move(kernels_in_order);
        ksm_from_sysfs = true;
        for (const auto& src : tr.sources())
            if (src.name == "ksm:ksm_stop_scan" && src.attached) ksm_from_sysfs = false;
        last_ksm = host.ksm_counters();
    }

    // The full scans ksmd finished since the last reading, from sysfs (see ksm_from_sysfs).
    void scans_from_sysfs(uint64_t now, const KsmCounters& k) {
        if (k.full_scans > last_ksm.full_scans) {
            const uint64_t n = k.full_scans - last_ksm.full_scans;
            const uint64_t grown = k.pages_sharing > last_ksm.pages_sharing ? k.pages_sharing - last_ksm.pages_sharing : 0;
            for (uint64_t i = 1; i <= n; ++i)
                scans.push_back({now, uint32_t(last_ksm.full_scans + i), 0, uint32_t(grown / n), 0});
        }
        last_ksm = k;
    }
    std::string burndown_source() const {
        return ksm_from_sysfs ? "from /sys/kernel/mm/ksm (full_scans, pages_sharing growth; no ksm:ksm_stop_scan in this kernel)"
                              : "from ksm:ksm_stop_scan";
    }

    void stop_all() noexcept { fleet.stop_all(); }
    uint32_t next_trace_id() const { return fleet.next_trace_id(); }

    std::string tag() const { return t.id + kernels_suffix(out.kernels) + (ksm_on ? " KSM on" : " KSM off"); }
    void say(const std::string& s) const {
        if (cfg.progress) cfg.progress("[" + tag() + "] " + s);
    }
    double rel_s(uint64_t ns) const { return ns_to_s(int64_t(ns - origin)); }

    // Polls consoles, the tracer and signals for up to `ms`.
    void wait_a_little(int ms) {
        std::vector<pollfd> fds{{tracer.events_fd(), POLLIN, 0}, {interrupt_fd(), POLLIN, 0}};
        for (const auto& g : guests)
            if (!g->ready_ns) fds.push_back({g->watcher->fd(), POLLIN, 0});
        poll(fds.data(), fds.size(), ms);
        tracer.poll_events(0);
        for (auto& s : tracer.take_ksm_scans()) scans.push_back(s);
        throw_if_interrupted();
    }

    struct Reading {
        std::vector<MemUsage> guest, helper;
        uint64_t total_kb = 0;
    };
    Reading read_all() const {
        Reading r;
        for (const auto& g : guests) {
            r.guest.push_back(host.processes_memory(g->guest->pids()));
            r.helper.push_back(host.processes_memory(g->guest->helper_pids()));
            r.total_kb += r.guest.back().pss_kb;
        }
        return r;
    }

    // Waits until memory settles (or settle_timeout_s); returns (settled, note).
    std::pair<bool, std::string> settle(uint64_t since) {
        const uint64_t deadline = since + uint64_t(cfg.settle_timeout_s * 1e9);
        std::vector<double> totals;
        uint64_t last_sample = 0, last_say = mono_ns();
        // KSM only scans memory registered as mergeable (QEMU's guest RAM); containers' processes
        // never are, so for them KSM cannot settle anything: read the footprint instead.
        bool ksm_applies = false;
        if (ksm_on)
            for (const auto& g : guests)
                for (pid_t p : g->guest->pids()) ksm_applies |= host.ksm_mergeable(p);
        for (;;) {
            uint64_t now = mono_ns();
            if (now - last_sample >= uint64_t(cfg.sample_s * 1e9)) {
                last_sample = now;
                for (const auto& g : guests)
                    if (!g->guest->alive())
                        throw UserError(t.label + " guest " + std::to_string(g->index) +
                                        " died while memory settled: " + g->guest->failure_hint());
                Reading r = read_all();
                totals.push_back(kb_to_mb(r.total_kb));
                const KsmCounters k = host.ksm_counters();
                if (ksm_from_sysfs) scans_from_sysfs(now, k);
                out.timeline.push_back({rel_s(now), unsigned(guests.size()), totals.back(), k.pages_sharing});
            }
            if (ksm_applies) {
                const uint64_t w = uint64_t(cfg.settle_window_s * 1e9);
                double avg = 0;
                // The burndown must have flattened and the footprint stopped moving (1%) over the
                // last window's samples.
                std::size_t per_window = std::max<std::size_t>(3, std::size_t(cfg.settle_window_s / cfg.sample_s));
                if (ksm_settled(scans, since, w, cfg.settle_merges, &avg) &&
                    footprint_settled(totals, per_window, cfg.settle_change))
                    return {true, "KSM burndown " +
                                      std::string(cfg.settle_merges > 0 ? "under " + fmt("%.0f", cfg.settle_merges)
                                                                        : "flat at") +
                                      " " + fmt("%.0f", avg) + " merges per full scan over " +
                                      fmt("%.0f", cfg.settle_window_s) + " s (scan " + std::to_string(scans.back().seq) +
                                      ", " + burndown_source() + "), footprint within " +
                                      fmt("%.0f", cfg.settle_change * 100) + "%"};
            } else if (footprint_settled(totals, 3, cfg.settle_change) && now - since >= uint64_t(cfg.settle_min_s * 1e9)) {
                return {true, std::string(ksm_on ? "no KSM-mergeable memory in these guests; " : "") +
                                  "footprint changed under " + fmt("%.1f", cfg.settle_change * 100) +
                                  "% over the last 3 samples"};
            }
            if (now > deadline)
                return {false, "not settled after " + fmt("%.0f", cfg.settle_timeout_s) + " s (" + ref(Setting::settle_timeout) + ")"};
            if (now - last_say > 10'000'000'000ULL) {
                last_say = now;
                std::string s = "settling " + fmt("%.0f", ns_to_s(int64_t(now - since))) + " s";
                if (ksm_applies && !scans.empty())
                    s += ": last KSM full scan merged " + std::to_string(scans.back().merges) + " pages";
                else if (!totals.empty())
                    s += ": " + fmt("%.1f", totals.back()) + " MB in all guests";
                say(s);
            }
            wait_a_little(100);
        }
    }

    void run() {
        origin = mono_ns();
        tracer.begin_run(origin);
        double prev_total = 0;
        unsigned prev_n = 0;
        for (unsigned n : cfg.counts) {
            const std::size_t first_new = guests.size();
            unsigned adding = n - unsigned(first_new);
            say("adding " + std::to_string(adding) + " guest" + (adding > 1 ? "s" : "") + " -> " + std::to_string(n));
            while (guests.size() < n)
                fleet.add([this](GuestSpec& spec) {
                    if (guests.size() < out.kernels.size()) spec.kernel = out.kernels[guests.size()];
                });
            const uint64_t step_begin = mono_ns();  // provisioning done: boot time starts here
            for (std::size_t i = first_new; i < guests.size(); ++i) fleet.launch(*guests[i]);
            if (out.command.empty()) out.command = fleet.first_command();
            fleet.wait_ready(step_begin, [this](int ms) { wait_a_little(ms); });
            const uint64_t ready = mono_ns();
            MemoryStep st;
            st.guests = n;
            st.boot_s = ns_to_s(int64_t(ready - step_begin));
            say(std::to_string(n) + " ready after " + fmt("%.1f", st.boot_s) + " s; waiting for memory to settle");
            auto [ok, note] = settle(ready);
            const uint64_t settled = mono_ns();
            st.settled = ok;
            st.settle_note = note;
            st.settle_s = ns_to_s(int64_t(settled - ready));
            if (!ok) say("warning: " + note + "; measuring anyway");

            const uint64_t a0 = mono_ns();
            Reading r = read_all();
            st.accounting_ms = double(mono_ns() - a0) / 1e6;
            st.ksm = host.ksm_counters();
            st.t_s = rel_s(mono_ns());
            for (std::size_t i = 0; i < guests.size(); ++i) {
                const auto& g = *guests[i];
                GuestFootprint f;
                f.index = g.index;
                f.main_pid = g.guest->main_pid();
                f.mem = r.guest[i];
                f.helper = r.helper[i];
                f.ready_s = ns_to_s(int64_t(g.ready_ns - g.launch_ns));
                if (g.guest->kind() == GuestKind::vm)
                    f.vm_parts = host.vm_parts(g.guest->main_pid(), uint64_t(g.memory_mb) << 20);
                st.per_guest.push_back(f);
            }
            tracer.poll_events(0);
            take_counts(tracer.drain_counters(), &st);
            for (std::size_t i = 0; i < guests.size(); ++i) {
                st.per_guest[i].faults = faults_by_guest[guests[i]->trace_id];
                st.per_guest[i].ksm_merges = merges_by_guest[guests[i]->trace_id];
            }
            if (out.kernels.size() >= 2 && guests.size() >= 2) {  // what KSM merged between guests 1 and 2
                auto a = host.ksm_frames(guests[0]->guest->main_pid()), b = host.ksm_frames(guests[1]->guest->main_pid());
                if (a && b) st.ksm_between = ksm_share(*a, *b);
            }
            summarize_step(st, prev_total, prev_n);
            say(std::to_string(n) + " guests: " + fmt("%.1f", st.pss_mb.mean) + " MB per guest, last added " +
                fmt("%.1f", st.incremental_mb) + " MB (settled in " + fmt("%.1f", st.settle_s) + " s)");
            prev_total = st.total_mb;
            prev_n = n;
            out.steps.push_back(std::move(st));
        }
        stop_all();  // before reading the trace: exits are part of it
        RunTrace trace = tracer.end_run();
        attribute(trace);
        fleet.clear();
    }

    std::map<uint32_t, uint64_t> merges_by_s, faults_by_s;          // by bucket (second)
    std::map<uint32_t, uint64_t> merges_by_guest, faults_by_guest;  // by trace id, cumulative

    // Counters drained at the end of a step belong to it (exactly: no bucket straddles steps);
    // their buckets (the tracer's bucket width) give the per-second timelines.
    void take_counts(const std::vector<CounterSample>& counters, MemoryStep* st) {
        for (const auto& c : counters) {
            if (c.kind == CounterKind::ksm_merge) {
                merges_by_s[c.bucket] += c.value;
                merges_by_guest[c.guest] += c.value;
                if (st) st->ksm_merges += c.value;
            } else if (c.kind == CounterKind::fault_user || c.kind == CounterKind::fault_kernel) {
                faults_by_s[c.bucket] += c.value;
                faults_by_guest[c.guest] += c.value;
                if (st) st->faults += c.value;
            }
        }
    }

    // The per-second timelines and the KSM scans of the series.
    void attribute(const RunTrace& trace) {
        take_counts(trace.counters, nullptr);  // after the last step: guests stopping
        for (auto [b, v] : merges_by_s) out.merges_per_s.push_back({double(b) * double(tracer.bucket_ns()) / 1e9, v});
        for (auto [b, v] : faults_by_s) out.faults_per_s.push_back({double(b) * double(tracer.bucket_ns()) / 1e9, v});
        for (const auto& s : scans)
            if (s.ts_ns >= origin) {
                KsmScan r = s;
                r.ts_ns = s.ts_ns - origin;
                out.scans.push_back(r);
            }
        out.lost.add(trace);
    }
};

}  // namespace

bool ksm_settled(const std::vector<KsmScan>& scans, uint64_t since_ns, uint64_t window_ns, double threshold,
                 double* avg) {
    if (scans.empty() || window_ns == 0) return false;
    const uint64_t now = scans.back().ts_ns;
    if (now < since_ns + 2 * window_ns) return false;
    uint64_t merges_a = 0, merges_b = 0;
    unsigned n_a = 0, n_b = 0;
    for (const auto& s : scans) {
        if (s.ts_ns <= since_ns || s.ts_ns + 2 * window_ns <= now) continue;
        if (s.ts_ns + window_ns > now) {
            merges_a += s.merges;
            ++n_a;
        } else {
            merges_b += s.merges;
            ++n_b;
        }
    }
    if (n_a < 2 || n_b < 2) return false;
    double a = double(merges_a) / n_a, b = double(merges_b) / n_b;
    if (avg) *avg = a;
    if (threshold > 0) return a <= threshold;
    return (a <= 8 && b <= 8) || std::fabs(a - b) <= 0.25 * std::max(a, b);
}

bool footprint_settled(const std::vector<double>& totals, std::size_t window, double rel) {
    if (window == 0 || totals.size() < window) return false;
    auto first = totals.end() - std::ptrdiff_t(window);
    auto [lo, hi] = std::minmax_element(first, totals.end());
    double mean = 0;
    for (auto it = first; it != totals.end(); ++it) mean += *it;
    mean /= double(window);
    return mean > 0 && (*hi - *lo) <= rel * mean;
}

void summarize_step(MemoryStep& s, double previous_total_mb, unsigned previous_guests) {
    std::vector<double> pss;
    double helper = 0;
    s.total_mb = 0;
    s.ksm_merging_pages = 0;
    for (const auto& g : s.per_guest) {
        pss.push_back(kb_to_mb(g.mem.pss_kb));
        s.total_mb += pss.back();
        helper += kb_to_mb(g.helper.pss_kb);
        s.ksm_merging_pages += g.mem.ksm_merging_pages;
    }
    s.pss_mb = summarize(pss);
    double ram = 0, tcg = 0, qemu = 0;
    unsigned vms = 0;
    for (const auto& g : s.per_guest)
        if (g.vm_parts && g.vm_parts->guest_ram_found) {
            ram += kb_to_mb(g.vm_parts->guest_ram_kb);
            tcg += kb_to_mb(g.vm_parts->tcg_cache_kb);
            qemu += kb_to_mb(g.vm_parts->qemu_kb);
            ++vms;
        }
    if (vms) {
        s.guest_ram_mb = ram / vms;
        s.tcg_cache_mb = tcg / vms;
        s.qemu_mb = qemu / vms;
    }
    s.helper_mb = s.per_guest.empty() ? 0 : helper / double(s.per_guest.size());
    unsigned added = s.guests > previous_guests ? s.guests - previous_guests : 0;
    s.incremental_mb = added ? (s.total_mb - previous_total_mb) / double(added) : 0;
}

void preflight_memory(const MemoryConfig& cfg) {
    for (const auto& t : cfg.techniques) {
        GuestSpec spec = fleet_guest_spec(Series::fleet_config(cfg, t));
        t.driver->preflight(spec);
        for (const auto& [a, b] : cfg.kernel_pairs)
            for (const auto& k : {a, b}) {
                spec.kernel = k;
                t.driver->preflight(spec);
            }
    }
}

MemoryResult run_memory(TraceBackend& tracer, HostSettingsGuard& ksm, const HostInfo& host, const MemoryConfig& cfg) {
    GuardedMemoryHost real(ksm);
    return run_memory(tracer, real, host, cfg);
}

MemoryResult run_memory(TraceBackend& tracer, MemoryHost& ksm, const HostInfo& host, const MemoryConfig& cfg) {
    MemoryResult res;
    res.host = host;
    res.started_at = utc_now();
    res.sources = tracer.sources();
    res.ksm_saved = ksm.saved();
    res.ksm_recovered = ksm.recovered();
    res.ksm_pages_to_scan = cfg.ksm_pages_to_scan;
    res.ksm_sleep_ms = cfg.ksm_sleep_ms;
    if (!cfg.thp.empty()) ksm.set_thp(cfg.thp);
    // A full container's systemd takes 5 inotify instances and hypetrace 1 per guest; the default
    // limit (128 per user, shared with the host) stops systemd near 20 containers.
    if (!cfg.counts.empty()) ksm.ensure_inotify_instances(128 + 8 * cfg.counts.back());
    res.thp = ksm.thp();
    uint32_t trace_id = 1;
    std::vector<std::vector<std::string>> kernel_sets;  // one series per set: its guests' kernels
    for (const auto& [a, b] : cfg.kernel_pairs) kernel_sets.push_back({a, b});
    if (kernel_sets.empty()) kernel_sets.push_back({});  // identical guests of the default kernel
    for (const auto& t : cfg.techniques)
        for (bool on : cfg.ksm_modes)
            for (const auto& kernels : kernel_sets) {
                if (on) ksm.enable(cfg.ksm_pages_to_scan, cfg.ksm_sleep_ms);
                else ksm.disable();
                Series s(tracer, ksm, cfg, t, on, kernels, trace_id);
                s.out.technique = t;
                s.out.ksm = on;
                for (const auto& k : kernels) s.out.kernel_versions.push_back(cfg.images.kernel_version(k));
                if (t.driver->kind() == GuestKind::vm) s.out.accel = to_string(cfg.accel.accel);
                else s.out.rootfs = to_string(cfg.rootfs);
                s.run();
                trace_id = s.next_trace_id();
                res.series.push_back(std::move(s.out));
            }
    if (!ksm.restore())
        std::cerr << "[hypetrace] warning: KSM is not fully restored: " << ksm.restore_failures()
                  << "; the next run that takes KSM retries from its saved settings" << std::endl;
    else if (!ksm.ksm_settled() && cfg.progress)
        cfg.progress("note: KSM was stopped with merges still counted (ksmd had not freed the ended guests' "
                     "within its wait, or other processes keep theirs)");
    res.self_peak_rss_mb = kb_to_mb(self_peak_rss_kb());
    return res;
}

std::string short_release(const std::string& release) { return release.substr(0, release.find("-cloud")); }

std::string paper_ksm_kernels_text() {
    std::string s;
    for (const auto& p : kPaperKsmKernels)
        s += std::string(" ") + p.guest + ": " + fmt("%.0f", p.mb) + " MB" +
             (&p == &kPaperKsmKernels[0] ? "" : fmt(" (x%.2f)", p.mb / kPaperKsmKernels[0].mb)) + ";";
    return s;
}

std::vector<KernelPairRow> kernel_pair_rows(const MemoryResult& r) {
    auto mb = [](uint64_t pages) { return double(pages) * 4096.0 / 1048576.0; };
    std::vector<KernelPairRow> rows;
    for (const auto& s : r.series) {
        if (s.kernels.size() < 2) continue;
        KernelPairRow row;
        row.label = s.technique.label;
        row.kernel_a = s.kernels[0];
        row.kernel_b = s.kernels[1];
        row.version_a = s.kernel_versions.size() > 0 ? s.kernel_versions[0] : "";
        row.version_b = s.kernel_versions.size() > 1 ? s.kernel_versions[1] : "";
        for (const auto& st : s.steps)
            if (st.ksm_between) {
                row.between_mb = mb(st.ksm_between->between);
                row.within_a_mb = mb(st.ksm_between->saved_within_a());
                row.within_b_mb = mb(st.ksm_between->saved_within_b());
                row.saved_mb = mb(st.ksm_between->saved());
                if (st.per_guest.size() >= 2) row.pss_b_mb = kb_to_mb(st.per_guest[1].mem.pss_kb);
            }
        rows.push_back(row);
    }
    for (auto& row : rows)
        for (const auto& ref : rows)
            if (ref.kernel_a == ref.kernel_b && ref.label == row.label && ref.between_mb > 0) {
                row.vs_identical = row.between_mb / ref.between_mb;
                break;
            }
    return rows;
}

nlohmann::json to_json(const MemoryResult& r) {
    nlohmann::json j;
    j["schema_version"] = kMemorySchemaVersion;
    j["experiment"] = "memory";
    j["tool"] = {{"name", "hypetrace"}, {"version", HYPETRACE_VERSION}};
    j["started_at"] = r.started_at;
    j["host"] = host_json(r.host);
    j["ksm"] = {{"host_settings_before", r.ksm_saved},
                {"recovered_from_dead_run", r.ksm_recovered},
                {"pages_to_scan", r.ksm_pages_to_scan},
                {"sleep_millisecs", r.ksm_sleep_ms}};
    j["transparent_hugepages"] = r.thp.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.thp);
    j["self_peak_rss_mb"] = r.self_peak_rss_mb;
    j["trace_sources"] = sources_json(r.sources);
    auto mem = [](const MemUsage& m) {
        return nlohmann::json{{"pss_mb", kb_to_mb(m.pss_kb)},
                              {"pss_anon_mb", kb_to_mb(m.pss_anon_kb)},
                              {"pss_file_mb", kb_to_mb(m.pss_file_kb)},
                              {"pss_shmem_mb", kb_to_mb(m.pss_shmem_kb)},
                              {"rss_mb", kb_to_mb(m.rss_kb)},
                              {"swap_pss_mb", kb_to_mb(m.swap_pss_kb)},
                              {"ksm_merging_pages", m.ksm_merging_pages},
                              {"processes", m.processes}};
    };
    nlohmann::json series = nlohmann::json::array();
    for (const auto& s : r.series) {
        nlohmann::json sj{{"technique", s.technique.id},
                          {"label", s.technique.label},
                          {"driver", s.technique.driver ? s.technique.driver->name() : ""},
                          {"variant", to_string(s.technique.variant)},
                          {"ksm", s.ksm},
                          {"accel", s.accel.empty() ? nlohmann::json(nullptr) : nlohmann::json(s.accel)},
                          {"rootfs", s.rootfs.empty() ? nlohmann::json(nullptr) : nlohmann::json(s.rootfs)},
                          {"command", s.command},
                          {"lost_counts", s.lost.counts},
                          {"lost_events", s.lost.events},
                          {"lost_untracked", s.lost.tracked}};
        if (!s.kernels.empty()) {
            nlohmann::json k = nlohmann::json::array();
            for (std::size_t i = 0; i < s.kernels.size(); ++i)
                k.push_back({{"release", s.kernels[i]}, {"version", i < s.kernel_versions.size() ? s.kernel_versions[i] : ""}});
            sj["guest_kernels"] = k;
        }
        if (!std::isnan(s.technique.paper_single_mb))
            sj["paper"] = {{"single_mb", s.technique.paper_single_mb}, {"limit_mb", s.technique.paper_limit_mb}};
        nlohmann::json steps = nlohmann::json::array();
        for (const auto& st : s.steps) {
            nlohmann::json g = nlohmann::json::array();
            for (const auto& f : st.per_guest) {
                nlohmann::json gj{{"index", f.index},
                                  {"main_pid", f.main_pid},
                                  {"ready_s", f.ready_s},
                                  {"traced_page_faults", f.faults},
                                  {"traced_ksm_merges", f.ksm_merges},
                                  {"memory", mem(f.mem)}};
                if (f.helper.processes) gj["helper"] = mem(f.helper);
                if (f.vm_parts && f.vm_parts->guest_ram_found)
                    gj["vm_parts_mb"] = {{"guest_ram", kb_to_mb(f.vm_parts->guest_ram_kb)},
                                         {"tcg_code_cache", kb_to_mb(f.vm_parts->tcg_cache_kb)},
                                         {"qemu", kb_to_mb(f.vm_parts->qemu_kb)}};
                g.push_back(gj);
            }
            nlohmann::json parts = nullptr;
            if (!std::isnan(st.guest_ram_mb))
                parts = {{"guest_ram", st.guest_ram_mb}, {"tcg_code_cache", st.tcg_cache_mb}, {"qemu", st.qemu_mb}};
            nlohmann::json between = nullptr;
            if (st.ksm_between) {
                const KsmShare& k = *st.ksm_between;
                between = {{"pages_on_ksm_frames", {k.pages_a, k.pages_b}},
                           {"ksm_frames", {k.frames_a, k.frames_b}},
                           {"frames_in_common", k.between},
                           {"saved_pages", {{"within_guest_1", k.saved_within_a()}, {"within_guest_2", k.saved_within_b()},
                                            {"between", k.between}, {"all", k.saved()}}}};
            }
            steps.push_back({{"guests", st.guests},
                             {"ksm_between_guests_1_and_2", between},
                             {"vm_parts_mb_per_guest", parts},
                             {"per_guest_mb", {{"mean", st.pss_mb.mean}, {"ci95", st.pss_mb.ci95},
                                               {"min", st.pss_mb.min}, {"max", st.pss_mb.max}}},
                             {"incremental_mb", st.incremental_mb},
                             {"total_mb", st.total_mb},
                             {"helper_mb_per_guest", st.helper_mb},
                             {"boot_s", st.boot_s},
                             {"settle_s", st.settle_s},
                             {"settled", st.settled},
                             {"settle_note", st.settle_note},
                             {"accounting_ms", st.accounting_ms},
                             {"ksm_merging_pages", st.ksm_merging_pages},
                             {"ksm_host", {{"pages_shared", st.ksm.pages_shared}, {"pages_sharing", st.ksm.pages_sharing},
                                           {"pages_unshared", st.ksm.pages_unshared}, {"full_scans", st.ksm.full_scans}}},
                             {"traced_page_faults", st.faults},
                             {"traced_ksm_merges", st.ksm_merges},
                             {"t_s", st.t_s},
                             {"per_guest", g}});
        }
        sj["steps"] = steps;
        nlohmann::json tl = nlohmann::json::array();
        for (const auto& p : s.timeline)
            tl.push_back({{"t_s", p.t_s}, {"guests", p.guests}, {"total_mb", p.total_mb}, {"pages_sharing", p.pages_sharing}});
        sj["timeline"] = tl;
        nlohmann::json sc = nlohmann::json::array();
        for (const auto& k : s.scans)
            sc.push_back({{"t_s", double(k.ts_ns) / 1e9}, {"seq", k.seq}, {"rmap_items", k.rmap_items},
                          {"merges", k.merges}, {"errors", k.errors}});
        sj["ksm_scans"] = sc;
        auto pairs = [](const std::vector<std::pair<double, uint64_t>>& v) {
            nlohmann::json a = nlohmann::json::array();
            for (auto [t, n] : v) a.push_back({t, n});
            return a;
        };
        sj["ksm_merges_per_s"] = pairs(s.merges_per_s);
        sj["page_faults_per_s"] = pairs(s.faults_per_s);
        series.push_back(sj);
    }
    j["series"] = series;
    auto num = [](double v) { return std::isnan(v) ? nlohmann::json(nullptr) : nlohmann::json(v); };
    nlohmann::json pairs = nlohmann::json::array();
    for (const auto& row : kernel_pair_rows(r))
        pairs.push_back({{"technique", row.label},
                         {"kernels", {row.kernel_a, row.kernel_b}},
                         {"versions", {row.version_a, row.version_b}},
                         {"merged_between_mb", num(row.between_mb)},
                         {"saved_within_mb", {num(row.within_a_mb), num(row.within_b_mb)}},
                         {"saved_mb", num(row.saved_mb)},
                         {"between_vs_identical", num(row.vs_identical)},
                         {"guest_2_pss_mb", num(row.pss_b_mb)}});
    if (!pairs.empty()) {
        j["guest_kernels"] = pairs;
        nlohmann::json paper = nlohmann::json::array();
        for (const auto& p : kPaperKsmKernels) paper.push_back({{"guest", p.guest}, {"mb", p.mb}});
        j["paper_guest_kernels"] = {{"host", "3.16"}, {"deduplicated", paper}};
    }
    return j;
}

std::string render_text(const MemoryResult& r) {
    std::ostringstream o;
    Losses lost;
    for (const auto& s : r.series) lost.add(s.lost);
    o << loss_headline(lost);
    o << host_line(r.host) << "\n";
    std::string accel;
    for (const auto& s : r.series)
        if (!s.accel.empty()) accel = s.accel;
    if (!accel.empty()) o << "VM accelerator: " << accel << (accel == "tcg" ? " (QEMU TCG: no hardware virtualization)" : "") << "\n";
    o << "\nMemory footprint per guest (Figure 4): PSS summed over every process of a guest, MB;\n"
         "guests added step by step, memory settled before each reading\n\n";
    std::vector<std::vector<std::string>> rows{{"technique", "KSM", "guests", "per guest", "±95%", "last added",
                                                "total", "boot s", "settle s", "KSM-merged/guest", "faults in step"}};
    for (const auto& s : r.series)
        for (const auto& st : s.steps)
            rows.push_back({series_label(s) + (s.rootfs.empty() ? "" : " (" + s.rootfs + " rootfs)"),
                            s.ksm ? "on" : "off", std::to_string(st.guests), fmt("%.1f", st.pss_mb.mean),
                            fmt("%.1f", st.pss_mb.ci95), fmt("%.1f", st.incremental_mb), fmt("%.1f", st.total_mb),
                            fmt("%.1f", st.boot_s), fmt("%.1f", st.settle_s) + (st.settled ? "" : "!"),
                            fmt("%.1f", double(st.ksm_merging_pages) * 4096.0 / 1048576.0 / std::max(1u, st.guests)) + " MB",
                            std::to_string(st.faults)});
    o << render_table(rows, {false, false, true, true, true, true, true, true, true, true, true});
    o << "  (last added: growth of the total per guest added in the step; \"!\": did not settle in time)\n";

    std::vector<std::vector<std::string>> vrows{{"technique", "KSM", "guests", "guest RAM", "TCG code cache", "QEMU",
                                                 "without TCG cache"}};
    for (const auto& s : r.series)
        for (const auto& st : s.steps)
            if (!std::isnan(st.guest_ram_mb))
                vrows.push_back({series_label(s), s.ksm ? "on" : "off", std::to_string(st.guests),
                                 fmt("%.1f", st.guest_ram_mb), fmt("%.1f", st.tcg_cache_mb), fmt("%.1f", st.qemu_mb),
                                 fmt("%.1f", st.guest_ram_mb + st.qemu_mb)});
    if (vrows.size() > 1) {
        o << "\nWhere a VM's footprint goes (MB per VM, from /proc/PID/smaps of QEMU):\n"
          << render_table(vrows, {false, false, true, true, true, true, true});
        bool tcg = false;
        for (std::size_t i = 1; i < vrows.size(); ++i) tcg |= vrows[i][4] != "0.0";
        if (tcg)
            o << "  TCG translates guest code into a cache KVM does not need: \"without TCG cache\" is the figure to\n"
                 "  compare with a VM under hardware virtualization (the paper's).\n";
    }

    bool any_helper = false;
    for (const auto& s : r.series)
        for (const auto& st : s.steps) any_helper |= st.helper_mb > 0;
    if (any_helper) {
        o << "\nLXC monitor processes, outside the containers and the footprint above (MB per container):";
        for (const auto& s : r.series)
            if (!s.steps.empty() && s.steps.back().helper_mb > 0)
                o << " " << s.technique.id << (s.ksm ? "/on " : "/off ") << fmt("%.1f", s.steps.back().helper_mb);
        o << "\n";
    }

    o << "\nthe paper (Ubuntu 14.10, KVM with EPT, LXC 1.1):";
    std::map<std::string, const MemoryTechnique*> seen;
    for (const auto& s : r.series) seen[s.technique.id] = &s.technique;
    for (const auto& [id, t] : seen)
        if (!std::isnan(t->paper_single_mb))
            o << " " << (id == "kvm" ? std::string("KVM") : t->label) << " " << fmt("%.0f", t->paper_single_mb) << " MB alone, ~" << fmt("%.1f", t->paper_limit_mb)
              << " MB in the limit;";
    o << "\n";

    for (const auto& s : r.series) {
        if (!s.ksm || s.scans.empty()) continue;
        o << "\nKSM burndown, " << series_label(s)
          << ": mean merges per full scan in 8 equal slices of each step (launch -> measured)\n";
        for (const auto& st : s.steps) {
            const double t1 = st.t_s, t0 = std::max(0.0, t1 - st.settle_s - st.boot_s);
            std::vector<uint64_t> merges(8, 0), count(8, 0);
            for (const auto& k : s.scans) {
                double t = double(k.ts_ns) / 1e9;
                if (t < t0 || t >= t1 || t1 <= t0) continue;
                std::size_t b = std::min<std::size_t>(7, std::size_t((t - t0) / (t1 - t0) * 8));
                merges[b] += k.merges;
                ++count[b];
            }
            o << "  " << st.guests << " guests (" << fmt("%.0f", t1 - t0) << " s):";
            for (std::size_t b = 0; b < 8; ++b)
                o << " " << (count[b] ? fmt("%.0f", double(merges[b]) / double(count[b])) : std::string("-"));
            o << "\n    " << st.settle_note << "; host pages_sharing " << st.ksm.pages_sharing
              << ", traced merges of guest pages in the step " << st.ksm_merges << "\n";
        }
    }

    const auto pairs = kernel_pair_rows(r);
    if (!pairs.empty()) {
        o << "\nKSM across guest kernels (paper section 3): two VMs, the second booting another kernel;\n"
             "the KSM frames both QEMUs map once memory settled are what KSM merged between them (MB)\n\n";
        std::vector<std::vector<std::string>> krows{
            {"guest 1", "guest 2", "merged between", "vs identical", "within guest 1", "within guest 2", "all saved"}};
        auto f1 = [](double v) { return std::isnan(v) ? std::string("-") : fmt("%.1f", v); };
        for (const auto& k : pairs)
            krows.push_back({short_release(k.kernel_a) + " (" + k.version_a + ")",
                             short_release(k.kernel_b) + " (" + k.version_b + ")", f1(k.between_mb),
                             std::isnan(k.vs_identical) ? "-" : fmt("x%.2f", k.vs_identical), f1(k.within_a_mb),
                             f1(k.within_b_mb), f1(k.saved_mb)});
        o << render_table(krows, {false, false, true, true, true, true, true});
        o << "  (a frame both guests map saves one page between them; pages on a frame of one guest only are\n"
             "  its own duplicates, zero pages most of them, whatever the kernel)\n";
        o << "the paper (host 3.16, one VM, KSM on): deduplicated" << paper_ksm_kernels_text() << "\n";
    }

    double acc = 0;
    unsigned procs = 0;
    for (const auto& s : r.series)
        for (const auto& st : s.steps) {
            if (st.accounting_ms >= acc) {
                acc = st.accounting_ms;
                procs = 0;
                for (const auto& g : st.per_guest) procs += g.mem.processes + g.helper.processes;
            }
        }
    o << "\naccounting: slowest reading " << fmt("%.1f", acc) << " ms for " << procs
      << " processes; hypetrace peak RSS " << fmt("%.1f", r.self_peak_rss_mb) << " MB\n";
    o << "KSM: ";
    bool any_on = false;
    for (const auto& s : r.series) any_on |= s.ksm;
    if (any_on)
        o << "run=1 pages_to_scan=" << r.ksm_pages_to_scan << " sleep_millisecs=" << r.ksm_sleep_ms << " during KSM-on series; ";
    o << "host settings (KSM, THP) restored (run=" << (r.ksm_saved.count("run") ? r.ksm_saved.at("run") : "?")
      << " pages_to_scan=" << (r.ksm_saved.count("pages_to_scan") ? r.ksm_saved.at("pages_to_scan") : "?") << ")"
      << (r.ksm_recovered ? "; a previous run's unrestored settings were put back first" : "") << "\n";
    if (!r.thp.empty())
        o << "transparent huge pages: " << r.thp
          << (r.thp == "never" ? " (anonymous memory accounted in 4 KiB pages)"
                               : " (QEMU asks for huge pages: guest RAM is accounted in 2 MiB steps)")
          << "\n";
    o << "trace sources:";
    for (const auto& s : r.sources)
        if (s.attached && (s.name.rfind("ksm:", 0) == 0 || s.name.rfind("exceptions:", 0) == 0 ||
                           s.name.rfind("sched:", 0) == 0))
            o << " " << s.name << "[" << s.attach << "]";
    o << "\n";
    return o.str();
}

std::string render_svg(const MemoryResult& r) {
    PlotSpec p;
    p.title = "Average memory footprint per guest (PSS)";
    p.x_label = "number of guests";
    p.y_label = "MB per guest";
    p.log2_x = true;
    double lo = INFINITY, hi = 0;
    for (const auto& s : r.series) {
        const bool vm = !s.accel.empty();
        PlotLine l;
        // KSM only matters to VMs (containers' memory is never registered with it).
        l.label = series_label(s) + (vm ? (s.ksm ? " KSM" : " no KSM") : "") +
                  (s.rootfs == "copied" ? " (copied rootfs)" : "");
        l.dashed = vm && !s.ksm;
        PlotLine no_tcg;
        no_tcg.label = l.label + ", w/o TCG code cache";
        no_tcg.dashed = true;
        for (const auto& st : s.steps) {
            l.points.push_back({double(st.guests), st.pss_mb.mean});
            lo = std::min(lo, st.pss_mb.mean);
            hi = std::max(hi, st.pss_mb.mean);
            if (!std::isnan(st.tcg_cache_mb) && st.tcg_cache_mb > 0)
                no_tcg.points.push_back({double(st.guests), st.guest_ram_mb + st.qemu_mb});
        }
        p.lines.push_back(std::move(l));
        if (!no_tcg.points.empty()) p.lines.push_back(std::move(no_tcg));
    }
    p.log_y = lo > 0 && hi / lo > 20;  // VMs and app containers are two orders of magnitude apart
    return render_line_plot_svg(p);
}

}  // namespace ht
