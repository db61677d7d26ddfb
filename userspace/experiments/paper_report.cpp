// SPDX-License-Identifier: MIT
#include "experiments/paper_report.h"

#include "core/base/setting.h"
#include "core/base/text.h"
#include "core/host/files.h"
#include "core/views/plot.h"
#include "core/views/report.h"
#include "experiments/dedup.h"
#include "experiments/memory.h"
#include "experiments/paper.h"
#include "experiments/startup.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

namespace ht {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// The steps whose JSON the report reads (experiments/paper's names).
const char* kStepNames[] = {"startup", "memory",          "memory-copied", "memory-kernels", "dedup", "devices",
                            "density-quantum", "density-chess", "density-io", "io", "exitcost", "trace"};

// The paper's host (section 2).
constexpr const char* kPaperHost =
    "4-core Intel i7 at 3.4 GHz, 4 GB RAM; Ubuntu 14.10, Linux 3.16, QEMU 2.1.0 with KVM (EPT), LXC 1.1.0";

// HTML text and attribute values (core/base/text's escaping serves XML and HTML alike).
std::string esc(const std::string& s) { return xml_escape(s); }

// j[key] when j is an object that has it, else an empty object: what the experiments leave out
// (a container's KSM figures, a VM's parts) reads as absent, never as undefined.
const json& sub(const json& j, const std::string& key) {
    static const json none = json::object();
    if (!j.is_object()) return none;
    auto it = j.find(key);
    return it == j.end() || it->is_null() ? none : *it;
}

// j[key] as a number, NaN when it is missing, null (NaN as the experiments write it) or not a number.
double num(const json& j, const std::string& key) {
    if (!j.is_object()) return NAN;
    auto it = j.find(key);
    return it != j.end() && it->is_number() ? it->get<double>() : NAN;
}

// printf-style, "-" for NaN (a figure that was not measured).
std::string fmtn(const char* f, double v) { return std::isnan(v) ? "-" : fmt(f, v); }

const json* at(const json& j, const std::string& ptr) {
    try {
        const json& v = j.at(json::json_pointer(ptr));
        return &v;
    } catch (const std::exception&) {
        return nullptr;
    }
}

double num_at(const json& j, const std::string& ptr) {
    const json* v = at(j, ptr);
    return v && v->is_number() ? v->get<double>() : NAN;
}

std::string str_at(const json& j, const std::string& ptr) {
    const json* v = at(j, ptr);
    return v && v->is_string() ? v->get<std::string>() : "";
}

// A number of ours in a table: shown with `f`, where it came from, and its 95 % interval when
// `ci_ptr` names one.
std::string ours_ci(const json& doc, const std::string& file, const std::string& ptr, const std::string& ci_ptr,
                    const char* f, double scale = 1) {
    const double v = num_at(doc, ptr), ci = ci_ptr.empty() ? NAN : num_at(doc, ci_ptr);
    if (std::isnan(v)) return "<td class=\"na\">-</td>";
    std::ostringstream o;
    o << "<td class=\"n ours\" data-src=\"" << esc(file) << "#" << esc(ptr) << "\" data-value=\"" << fmtn("%.17g", v)
      << "\"" << (scale != 1 ? " data-scale=\"" + fmtn("%.17g", scale) + "\"" : "") << ">" << fmt(f, v * scale);
    if (!std::isnan(ci) && ci > 0) o << " <span class=\"ci\">&plusmn; " << fmt(f, ci * scale) << "</span>";
    o << "</td>";
    return o.str();
}

std::string ours(const json& doc, const std::string& file, const std::string& ptr, const char* f, double scale = 1) {
    return ours_ci(doc, file, ptr, "", f, scale);
}

// A figure whose 95 % interval holds zero (or is wider than the figure): it says nothing either way.
bool within_noise(double v, double ci95) { return !std::isnan(v) && !std::isnan(ci95) && ci95 >= std::fabs(v); }

std::string paper_cell(double v, const char* f) {
    return std::isnan(v) ? "<td class=\"na\">-</td>" : "<td class=\"n paper\">" + fmtn(f, v) + "</td>";
}

std::string ratio_cell(double a, double b) {
    if (std::isnan(a) || std::isnan(b) || b == 0) return "<td class=\"na\">-</td>";
    return "<td class=\"n ratio\">x" + fmtn(a / b >= 10 ? "%.1f" : "%.2f", a / b) + "</td>";
}

std::string badge(const std::string& text, const std::string& cls) {
    return " <span class=\"badge " + cls + "\">" + esc(text) + "</span>";
}

const json& host_of(const PaperInputs& in) {
    static const json none = json::object();
    for (const char* n : kStepNames) {
        auto it = in.results.find(n);
        if (it != in.results.end() && it->second.contains("host")) return it->second["host"];
    }
    return none;
}

// "tcg", "kvm" or "" (no VM ran): the accelerator VMs got, from whichever result says.
std::string accel_of(const PaperInputs& in) {
    if (auto it = in.results.find("startup"); it != in.results.end()) {
        const std::string a = str_at(it->second, "/host/accel");
        if (!a.empty()) return a;
    }
    for (const char* n : {"density-quantum", "density-chess", "density-io", "io"}) {
        auto it = in.results.find(n);
        if (it == in.results.end()) continue;
        for (const auto& t : it->second.value("techniques", json::array()))
            if (t.value("id", "") == "kvm" && t.value("accel", "") != "") return t.value("accel", "");
    }
    return "";
}

const json* result(const PaperInputs& in, const std::string& name) {
    auto it = in.results.find(name);
    return it == in.results.end() ? nullptr : &it->second;
}

// paper.json's runs by step name (a step's last run), empty without a paper.json.
std::map<std::string, json> runs_of(const json& paper) {
    std::map<std::string, json> m;
    const json& runs = sub(paper, "runs");
    if (runs.is_array())
        for (const auto& r : runs) m[r.value("name", "")] = r;
    return m;
}

// How a step of the plan ended, for a section whose JSON is missing.
std::string missing(const PaperInputs& in, const std::string& name) {
    std::string why = "not run";
    const auto runs = runs_of(in.paper);
    if (auto it = runs.find(name); it != runs.end()) {
        const json& r = it->second;
        why = r.value("status", "") + (r.value("error", "").empty() ? "" : ": " + r.value("error", ""));
    }
    if (why.rfind("left out", 0) == 0) {  // the plan chose not to run it: not an error
        for (const auto& st : sub(in.paper, "plan").value("steps", json::array()))
            if (st.value("name", "") == name) why = st.value("why", "");
        return "<p class=\"notrun\">Not run in this report: " + esc(why) + ".</p>\n";
    }
    return "<p class=\"missing\">No result (" + esc(name) + ".json): " + esc(why) + ".</p>\n";
}

// ---- Table 3 ----

std::string runs_words(const json& runs) {
    return runs.is_string() ? runs.get<std::string>() + " (until each interval settled)" : runs.dump();
}

int find_technique(const json& s, const std::string& id) {
    const auto& t = s.value("techniques", json::array());
    for (std::size_t i = 0; i < t.size(); ++i)
        if (t[i].value("technique", "") == id) return int(i);
    return -1;
}

double mean_of(const json& s, const std::string& id) {
    const int i = find_technique(s, id);
    return i < 0 ? NAN : num_at(s, "/techniques/" + std::to_string(i) + "/mean_s");
}

int cold_index(const json& s, const json& t) {
    const auto& all = s.value("techniques", json::array());
    for (std::size_t i = 0; i < all.size(); ++i)
        if (all[i].value("driver", "") == t.value("driver", "") && all[i].value("variant", "") == t.value("variant", "") &&
            (!all[i].contains("restore") || all[i]["restore"].is_null()))
            return int(i);
    return -1;
}

std::string phases_line(const json& t) {
    std::string o;
    for (const auto& p : t.value("phases", json::array())) {
        const double m = num(p, "mean_s");
        if (std::isnan(m)) continue;
        o += (o.empty() ? "" : " &middot; ") + esc(p.value("name", "")) + " " + fmtn(m < 0.1 ? "%.3f" : "%.2f", m) + " s";
    }
    return o;
}

std::string table3(const PaperInputs& in) {
    std::ostringstream o;
    o << "<section id=\"table3\"><h2>Table 3: start-up latency</h2>\n";
    const json* sp = result(in, "startup");
    if (!sp) return o.str() + missing(in, "startup") + "</section>\n";
    const json& s = *sp;
    const std::string file = "startup.json";
    o << "<p>Mean seconds from the launcher's start until the guest is ready (cold) or answers a ping through itself "
         "(restored), with the 95 % interval over "
      << esc(runs_words(sub(s, "config").value("runs", json(0)))) << " runs after a warm-up.</p>\n"
      << "<table><tr><th>technique</th><th>ours (s)</th><th>paper (s)</th><th>ours / paper</th><th>restore / cold</th>"
         "<th>restore / cold, paper</th></tr>\n";
    const auto& ts = s.value("techniques", json::array());
    for (std::size_t i = 0; i < ts.size(); ++i) {
        const auto& t = ts[i];
        const std::string p = "/techniques/" + std::to_string(i);
        std::string label = esc(t.value("label", ""));
        if (t.value("accel", json()).is_string() && t["accel"] == "tcg") label += badge("TCG", "tcg");
        if (t.value("noisy", false)) label += badge("noisy", "noisy");
        const double paper = num_at(s, p + "/paper_s");
        double rc = NAN, rc_paper = NAN;
        if (t.contains("restore") && !t["restore"].is_null()) {
            const int c = cold_index(s, t);
            if (c >= 0) {
                rc = num_at(s, "/techniques/" + std::to_string(c) + "/mean_s");
                rc = num(t, "mean_s") / rc;
                const double cp = num_at(s, "/techniques/" + std::to_string(c) + "/paper_s");
                rc_paper = paper / cp;
            }
        }
        o << "<tr><td>" << label << "</td>" << ours_ci(s, file, p + "/mean_s", p + "/ci95_s", "%.3f")
          << paper_cell(paper, "%.3f") << ratio_cell(num(t, "mean_s"), paper)
          << (std::isnan(rc) ? "<td class=\"na\">-</td>" : "<td class=\"n ratio\">x" + fmtn("%.3f", rc) + "</td>")
          << (std::isnan(rc_paper) ? "<td class=\"na\">-</td>" : "<td class=\"n paper\">x" + fmtn("%.3f", rc_paper) + "</td>")
          << "</tr>\n";
    }
    auto paper_of_label = [](const std::string& l) {
        if (l.rfind("LXC-bash restore", 0) == 0) return kPaperRestoreLxcBashS;
        if (l.rfind("LXC restore", 0) == 0) return kPaperRestoreLxcS;
        if (l.rfind("KVM restore", 0) == 0) return kPaperRestoreKvmS;
        return double(NAN);
    };
    for (const auto& n : s.value("not_measured", json::array()))
        o << "<tr class=\"refused\"><td>" << esc(n.value("technique", "")) << "</td><td class=\"na\">not measured: "
          << esc(n.value("reason", "")) << "</td>" << paper_cell(paper_of_label(n.value("technique", "")), "%.3f")
          << "<td></td><td></td><td></td></tr>\n";
    o << "<tr class=\"refused\"><td>FreeBSD Jail</td><td class=\"na\">not measured: a FreeBSD host</td>"
      << paper_cell(0.090, "%.3f") << "<td></td><td></td><td></td></tr>\n</table>\n";
    // The gaps the paper draws its conclusion from.
    const double kvm = mean_of(s, "kvm"), lxc = mean_of(s, "lxc"), kvm_r = mean_of(s, "kvm-restore"),
                 lxc_r = mean_of(s, "lxc-restore"), app = mean_of(s, "kvm-app"), lapp = mean_of(s, "lxc-app"),
                 app_r = mean_of(s, "kvm-app-restore"), lapp_r = mean_of(s, "lxc-app-restore");
    o << "<ul class=\"gaps\">";
    auto gap = [&](const std::string& what, double a, double b, double pa, double pb) {
        if (std::isnan(a) || std::isnan(b) || b <= 0) return;
        o << "<li>" << esc(what) << ": <b>x" << fmtn("%.1f", a / b) << "</b>"
          << (std::isnan(pa) ? "" : " (paper x" + fmtn("%.1f", pa / pb) + ")") << "</li>";
    };
    gap("VM / container, cold", kvm, lxc, kPaperStartupKvmS, kPaperStartupLxcS);
    gap("VM / container, both restored", kvm_r, lxc_r, kPaperRestoreKvmS, kPaperRestoreLxcS);
    gap("restored VM / cold container", kvm_r, lxc, kPaperRestoreKvmS, kPaperStartupLxcS);
    gap("KVM-bash / LXC-bash, cold", app, lapp, NAN, NAN);
    gap("KVM-bash / LXC-bash, both restored", app_r, lapp_r, NAN, NAN);
    o << "</ul>\n";
    for (const auto& t : ts)  // a run whose guest's kernel panicked was run again: said, not hidden
        for (const auto& why : t.value("reruns", json::array()))
            if (why.is_string()) o << "<p class=\"note\">Run again: " << esc(why.get<std::string>()) << "</p>\n";
    o << "<h3>Where the time goes</h3>\n<table class=\"explain\"><tr><th>technique</th><th>phases (mean)</th>"
         "<th>page faults / run</th><th>VM exits / run</th></tr>\n";
    for (const auto& t : ts) {
        const auto& c = t.value("totals_per_run", json::object());
        o << "<tr><td>" << esc(t.value("label", "")) << "</td><td>" << phases_line(t) << "</td><td class=\"n\">"
          << fmtn("%.0f", num(c, "page_faults_user") + num(c, "page_faults_kernel")) << "</td><td class=\"n\">"
          << (t.value("accel", json()) == "kvm" ? fmtn("%.0f", num(c, "kvm_exits")) : "-") << "</td></tr>\n";
    }
    o << "</table>\n</section>\n";
    return o.str();
}

// ---- Figure 4 ----

std::string figure4(const PaperInputs& in) {
    std::ostringstream o;
    o << "<section id=\"figure4\"><h2>Figure 4: memory footprint per guest as guests are added</h2>\n";
    const json* mp = result(in, "memory");
    if (!mp) return o.str() + missing(in, "memory") + "</section>\n";
    PlotSpec p;
    p.title = "Average memory footprint per guest (PSS), ours and the paper's";
    p.x_label = "number of guests";
    p.y_label = "MB per guest";
    p.log2_x = true;
    double lo = INFINITY, hi = 0;
    std::ostringstream tab;
    tab << "<table><tr><th>series</th><th>1 guest, ours (MB)</th><th>paper</th><th>largest count</th>"
           "<th>per guest there, ours</th><th>each added guest, ours</th><th>paper, in the limit</th></tr>\n";
    int series_color = 0;  // one colour per series of ours, shared by its paper and TCG lines
    auto add_series = [&](const json& m, const std::string& file) {
        const auto& ser = m.value("series", json::array());
        for (std::size_t i = 0; i < ser.size(); ++i) {
            const auto& s = ser[i];
            const std::string sp = "/series/" + std::to_string(i);
            const bool vm = s.value("accel", json()).is_string();
            std::string label = s.value("label", "") + (vm ? (s.value("ksm", false) ? ", KSM" : ", no KSM") : "") +
                                (s.value("rootfs", json()) == "copied" ? " (copied rootfs)" : "");
            PlotLine l;
            l.label = label;
            l.dashed = vm && !s.value("ksm", false);
            l.color = series_color++;
            const int color = l.color;
            const auto& steps = s.value("steps", json::array());
            for (const auto& st : steps) {
                const double y = num(sub(st, "per_guest_mb"), "mean");
                l.points.push_back({double(st.value("guests", 0)), y});
                l.err.push_back(num(sub(st, "per_guest_mb"), "ci95"));
                lo = std::min(lo, y);
                hi = std::max(hi, y);
            }
            p.lines.push_back(l);
            // The paper's line, from its two numbers: the first guest alone, each next one at the limit.
            const double single = num_at(s, "/paper/single_mb"), limit = num_at(s, "/paper/limit_mb");
            // The paper's numbers are of a shared rootfs (a copied one: about 14 MB, said below).
            const bool paper_line = !std::isnan(single) && (!vm || s.value("ksm", false)) && s.value("rootfs", json()) != "copied";
            if (paper_line) {
                PlotLine pl;
                // The paper's VMs ran under KVM: its line is not labelled with our accelerator.
                std::string label = s.value("label", "");
                if (const auto tcg = label.find(" (TCG)"); tcg != std::string::npos) label.erase(tcg, 6);
                pl.label = "paper: " + label + " (" + fmtn("%.0f", single) + " MB, then " +
                           fmt(limit < 2 ? "%.1f" : "%.0f", limit) + " each)";
                pl.dashed = true;
                pl.hollow = true;
                pl.color = color;
                for (const auto& st : steps) {
                    const double n = st.value("guests", 1);
                    pl.points.push_back({n, (single + (n - 1) * limit) / n});
                }
                p.lines.push_back(pl);
            }
            if (steps.empty()) continue;
            const std::string first = sp + "/steps/0", last = sp + "/steps/" + std::to_string(steps.size() - 1);
            std::string name = esc(label);
            if (vm && s["accel"] == "tcg") name += badge("TCG", "tcg");
            tab << "<tr><td>" << name << "</td>" << ours_ci(m, file, first + "/per_guest_mb/mean", first + "/per_guest_mb/ci95", "%.1f")
                << paper_cell(paper_line ? single : NAN, "%.0f") << "<td class=\"n\">" << steps.back().value("guests", 0)
                << "</td>" << ours_ci(m, file, last + "/per_guest_mb/mean", last + "/per_guest_mb/ci95", "%.1f")
                << ours(m, file, last + "/incremental_mb", "%.1f")
                << paper_cell(paper_line ? limit : NAN, limit < 2 ? "%.1f" : "%.0f") << "</tr>\n";
            // Under TCG the VM's footprint holds TCG's code cache, which KVM has not.
            if (vm && s["accel"] == "tcg" && sub(steps.back(), "vm_parts_mb_per_guest").contains("guest_ram")) {
                PlotLine nt;
                nt.label = label + ", w/o TCG code cache";
                nt.dashed = true;
                nt.color = color;
                for (const auto& st : steps)
                    if (sub(st, "vm_parts_mb_per_guest").contains("guest_ram"))
                        nt.points.push_back({double(st.value("guests", 0)), num(sub(st, "vm_parts_mb_per_guest"), "guest_ram") +
                                                                             num(sub(st, "vm_parts_mb_per_guest"), "qemu")});
                p.lines.push_back(nt);
            }
        }
    };
    add_series(*mp, "memory.json");
    if (const json* c = result(in, "memory-copied")) add_series(*c, "memory-copied.json");
    p.log_y = lo > 0 && hi / lo > 20;
    o << "<figure>" << render_line_plot_svg(p)
      << "<figcaption>Solid: ours, with 95 % bars across the guests of a step. Rings on dashes: the paper's Figure 4, "
         "from its two numbers per technique (the first guest alone, each guest added in the limit).</figcaption></figure>\n"
      << tab.str() << "</table>\n";
    // KSM, explained: what it shared by the largest step, and what it merged.
    o << "<h3>KSM, traced</h3><ul>";
    for (const auto& s : mp->value("series", json::array())) {
        if (!s.value("ksm", false) || s.value("steps", json::array()).empty()) continue;
        const auto& st = s["steps"].back();
        const double sharing = num(sub(st, "ksm_host"), "pages_sharing") * 4096 / 1048576.0;
        o << "<li>" << esc(s.value("label", "")) << ", " << st.value("guests", 0) << " guests: KSM saved "
          << fmtn("%.0f", sharing) << " MB (pages_sharing), " << st.value("traced_ksm_merges", 0) << " merges traced, "
          << "settled " << (st.value("settled", false) ? "yes" : "no") << " (" << esc(st.value("settle_note", "")) << ")</li>";
    }
    o << "</ul>\n";
    if (const json* c = result(in, "memory-copied"); c && !c->value("series", json::array()).empty()) {
        const json st = (*c)["series"][0].value("steps", json::array());
        if (!st.empty())
            o << "<p>A copied rootfs: each container added costs " << fmtn("%.1f", num(st.back(), "incremental_mb"))
              << " MB here (paper: about 14 MB, against 8 MB on a shared one).</p>\n";
    }
    o << "</section>\n";
    return o.str();
}

// ---- Section 3: KSM across guest kernel versions ----

std::string kernels_section(const PaperInputs& in) {
    std::ostringstream o;
    o << "<section id=\"kernels\"><h2>Section 3: KSM across guest kernel versions</h2>\n";
    const json* kp = result(in, "memory-kernels");
    if (!kp) return o.str() + missing(in, "memory-kernels") + "</section>\n";
    const json& k = *kp;
    const std::string file = "memory-kernels.json";
    const bool tcg = !k.value("series", json::array()).empty() && k["series"][0].value("accel", json()) == "tcg";
    o << "<p>Two VMs at a time, the first on the reference kernel, the second on another; once memory settled, the KSM "
         "frames both QEMUs map are what KSM merged <i>between</i> them (a frame both map saves one page). "
         "What each guest merges within itself (its zero pages, most of it) is the same whatever the other runs.</p>\n"
      << "<table><tr><th>guest 1</th><th>guest 2</th><th>merged between them (MB)</th><th>vs identical kernels</th>"
         "<th>within guest 1 (MB)</th><th>within guest 2 (MB)</th><th>all KSM saved (MB)</th></tr>\n";
    const auto& rows = k.value("guest_kernels", json::array());
    for (std::size_t i = 0; i < rows.size(); ++i) {
        const json& r = rows[i];
        const std::string ptr = "/guest_kernels/" + std::to_string(i) + "/";
        const auto& ks = r.value("kernels", json::array());
        const auto& vs = r.value("versions", json::array());
        auto name = [&](std::size_t g) {
            return g < ks.size() ? esc(short_release(ks[g].get<std::string>())) + " <span class=\"ci\">(" +
                                       esc(g < vs.size() ? vs[g].get<std::string>() : "") + ")</span>"
                                 : std::string("?");
        };
        o << "<tr><td>" << name(0) << (tcg && i == 0 ? badge("TCG", "tcg") : "") << "</td><td>" << name(1) << "</td>"
          << ours(k, file, ptr + "merged_between_mb", "%.1f") << ours(k, file, ptr + "between_vs_identical", "x%.2f")
          << ours(k, file, ptr + "saved_within_mb/0", "%.1f") << ours(k, file, ptr + "saved_within_mb/1", "%.1f")
          << ours(k, file, ptr + "saved_mb", "%.1f") << "</tr>\n";
    }
    o << "</table>\n<p>The paper (host 3.16, one VM beside it, KSM on) deduplicated" << esc(paper_ksm_kernels_text())
      << " the further apart the kernels, the less, but never nothing. KSM merges only process memory, so here the "
         "comparison is between two guests (the paper's own motivation: one guest took a security update, one did "
         "not); the ratios are what compares.</p>\n</section>\n";
    return o.str();
}

// ---- Table 2 ----

// The saving of a devices row that the report sets beside the paper's, with its 95 % interval:
// under TCG the one without TCG's code cache (KVM has none) where the row has it, else the whole
// saving. Table 2's noise badge and the differences both judge this one.
struct ComparedSaving {
    double mb = 0, ci95 = 0;
    bool without_tcg_cache = false;
};

ComparedSaving compared_saving(const json& row, bool tcg) {
    if (tcg && row.value("saving_without_tcg_cache_mb", json()).is_number())
        return {row["saving_without_tcg_cache_mb"].get<double>(), num(row, "saving_without_tcg_cache_ci95_mb"), true};
    return {num(row, "saving_mb"), num(row, "saving_ci95_mb"), false};
}

std::string table2(const PaperInputs& in) {
    std::ostringstream o;
    o << "<section id=\"table2\"><h2>Table 2: memory saved by dropping emulated devices</h2>\n";
    const json* dp = result(in, "devices");
    if (!dp) return o.str() + missing(in, "devices") + "</section>\n";
    const json& d = *dp;
    bool tcg = false;
    for (const auto& s : d.value("series", json::array())) tcg |= s.value("accel", json()) == "tcg";
    o << "<p>PSS per VM of a libvirt-default VM minus that of the same VM without the devices, MB, "
      << "mean over the VMs of a set" << (tcg ? "; under TCG, also without TCG's code cache (KVM has none)" : "")
      << "; and of it, what QEMU itself saved (its device emulation).</p>\n<table><tr><th>devices removed</th><th>saved, ours (MB)</th>"
      << (tcg ? "<th>w/o TCG code cache</th>" : "") << "<th>of it in QEMU</th><th>paper (MB)</th></tr>\n";
    const auto& rows = d.value("devices", json::array());
    bool any_noise = false, noise_without_cache = false;
    const std::pair<const char*, const char*> names[] = {{"no-video", "Video and Graphics"},
                                                         {"no-audio", "Audio"},
                                                         {"no-usb", "2 USB controllers"},
                                                         {"no-video+usb", "Video, Graphics and USB (text)"},
                                                         {"none", "all three (text)"}};
    for (auto [id, name] : names)
        for (std::size_t i = 0; i < rows.size(); ++i) {
            if (rows[i].value("devices", "") != id) continue;
            const std::string p = "/devices/" + std::to_string(i);
            const ComparedSaving cs = compared_saving(rows[i], tcg);
            const bool noise = within_noise(cs.mb, cs.ci95);
            any_noise |= noise;
            noise_without_cache |= noise && cs.without_tcg_cache;
            o << "<tr><td>" << name << (noise ? badge("within the noise", "noisy") : "") << "</td>"
              << ours_ci(d, "devices.json", p + "/saving_mb", p + "/saving_ci95_mb", "%.1f")
              << (tcg ? ours_ci(d, "devices.json", p + "/saving_without_tcg_cache_mb", p + "/saving_without_tcg_cache_ci95_mb", "%.1f") : "")
              << ours_ci(d, "devices.json", p + "/saving_in_qemu_mb", p + "/saving_in_qemu_ci95_mb", "%.1f")
              << paper_cell(num_at(d, p + "/paper_saving_mb"), "%.1f") << "</tr>\n";
        }
    o << "</table>\n";
    if (any_noise) {
        std::string guests;
        for (const auto& r : rows) guests = std::to_string(r.value("guests", 0));
        o << "<p><span class=\"badge noisy\">within the noise</span>: the 95 % interval of the saving set beside the paper's"
          << (noise_without_cache ? " (without TCG's code cache)" : "") << " holds zero. Guest RAM "
             "varies from boot to boot (" << esc(guests) << " VMs per set here) by more than a driver's footprint; what QEMU "
             "itself saves is resolved. More VMs per set (<code>" << ref(Setting::guests) << "</code>) narrow the rest.</p>\n";
    }
    o << "</section>\n";
    return o.str();
}

// ---- Table 1 ----

std::string table1(const PaperInputs& in) {
    std::ostringstream o;
    o << "<section id=\"table1\"><h2>Table 1: duplicate pages of a VM</h2>\n";
    const json* dp = result(in, "dedup");
    if (!dp) return o.str() + missing(in, "dedup") + "</section>\n";
    const json& d = *dp;
    const double mb = 4096.0 / 1048576.0;
    const std::string kind = str_at(d, "/guest/kind");
    const std::string guest = kind == "vm" ? "VM" : kind == "container" ? "container" : "guest";
    o << "<p>Pages of the first " << guest << " whose content another page also holds, MB (a page counted once, in the "
         "first row that has its twin). The " << guest << " maps "
      << fmtn("%.0f", num_at(d, "/guest_frames/all") * mb) << " MB in distinct frames (paper's VM: " << fmtn("%.0f", kPaperTable1VmMb)
      << " MB)." << (kind == "vm" ? "" : " The paper's table is of a VM: at this size a container was scanned instead.")
      << "</p>\n<table><tr><th></th><th>anon/anon</th><th>file/file</th><th>anon/file</th><th>total</th>"
         "<th class=\"sep\"></th><th>paper a/a</th><th>f/f</th><th>a/f</th><th>total</th></tr>\n";
    const char* keys[] = {"within_guest", "guest_host", "guest_guest"};
    const char* names[] = {"within the VM process", "between VM and host", "between 2 VM processes"};
    const char* cols[] = {"anon_anon", "file_file", "anon_file", "total"};
    double sum[4] = {0, 0, 0, 0};
    for (int r = 0; r < 3; ++r) {
        o << "<tr><td>" << names[r] << "</td>";
        for (int c = 0; c < 4; ++c) {
            const std::string p = std::string("/table1/") + keys[r] + "/" + cols[c];
            o << ours(d, "dedup.json", p, "%.1f", mb);
            sum[c] += num_at(d, p);
        }
        o << "<td class=\"sep\"></td>";
        for (int c = 0; c < 4; ++c) o << paper_cell(kPaperTable1Mb[r][c], "%.1f");
        o << "</tr>\n";
    }
    o << "<tr class=\"total\"><td>total</td>";
    for (int c = 0; c < 4; ++c) {
        std::string srcs;
        for (const char* k : keys) srcs += std::string(srcs.empty() ? "" : " ") + "dedup.json#/table1/" + k + "/" + cols[c];
        o << "<td class=\"n ours\" data-sum=\"" << srcs << "\" data-value=\"" << fmtn("%.17g", sum[c]) << "\" data-scale=\""
          << fmtn("%.17g", mb) << "\">" << fmtn("%.1f", sum[c] * mb) << "</td>";
    }
    o << "<td class=\"sep\"></td>";
    for (int c = 0; c < 4; ++c) o << paper_cell(kPaperTable1Mb[3][c], "%.1f");
    o << "</tr>\n</table>\n";
    if (d.contains("ksm_check")) {
        o << "<p>KSM, switched on after the scan, shared " << fmtn("%.0f", num_at(d, "/ksm_check/pages_sharing_after") * mb)
          << " MB; the scan's estimate of what it could merge was " << fmtn("%.0f", num_at(d, "/ksm_check/estimate_pages_sharing") * mb)
          << " MB (paper: KSM takes 94 of the 120 MB; the 26 MB of file-backed duplicates it cannot).</p>\n";
    }
    o << "<h3>Where the VM's unique memory is</h3><table><tr><th>part</th><th>MB</th><th>duplicate</th><th>unique</th></tr>\n";
    for (const auto& p : d.value("parts", json::array()))
        o << "<tr><td>" << esc(p.value("part", "")) << "</td><td class=\"n\">" << fmtn("%.1f", num(p, "frames") * mb)
          << "</td><td class=\"n\">" << fmtn("%.1f", num(p, "duplicate") * mb) << "</td><td class=\"n\">"
          << fmtn("%.1f", num(p, "unique") * mb) << "</td></tr>\n";
    o << "</table><p>Paper (section 4): 91 MB unique per VM: 23 MB QEMU, 2 MB EPT tables, 66 MB guest RAM (11 anonymous, 55 page "
         "cache).</p>\n</section>\n";
    return o.str();
}

// ---- Figures 1-3 ----

std::string density_figure(const PaperInputs& in, const std::string& name, const std::string& title) {
    std::ostringstream o;
    o << "<section id=\"" << name << "\"><h2>" << esc(title) << "</h2>\n";
    const json* dp = result(in, name);
    if (!dp) return o.str() + missing(in, name) + "</section>\n";
    const json& d = *dp;
    const std::string file = name + ".json";
    const std::string key = sub(d, "benchmark").value("figure", "seconds");
    const bool io = key == "ops_per_s";
    PlotSpec p;
    p.title = sub(d, "benchmark").value("what", "") + " (" + sub(d, "benchmark").value("stands_for", "") + ")";
    p.x_label = "guests per host CPU";
    p.y_label = io ? "ops/s of the benchmark guest" : "seconds per run of the benchmark guest";
    std::set<double> xs;
    for (const auto& t : d.value("techniques", json::array()))
        for (const auto& st : t.value("steps", json::array())) xs.insert(num(st, "per_cpu"));
    o << "<table><tr><th>technique</th><th>guests</th><th>per CPU</th><th>ours (" << (io ? "ops/s" : "s")
      << ")</th><th>slowdown</th><th>why, from the scheduler's trace</th></tr>\n";
    const auto& ts = d.value("techniques", json::array());
    for (std::size_t i = 0; i < ts.size(); ++i) {
        const auto& t = ts[i];
        PlotLine l;
        l.label = t.value("label", "");
        const auto& steps = t.value("steps", json::array());
        const bool native = t.value("id", "") == "native";
        for (std::size_t k = 0; k < steps.size(); ++k) {
            const auto& st = steps[k];
            const std::string sp = "/techniques/" + std::to_string(i) + "/steps/" + std::to_string(k);
            const double y = num_at(d, sp + "/" + key + "/mean");
            if (native) {
                l.dashed = true;
                l.label += " (alone)";
                for (double x : xs) l.points.push_back({x, y});
            } else {
                l.points.push_back({num(st, "per_cpu"), y});
                l.err.push_back(num_at(d, sp + "/" + key + "/ci95"));
            }
            std::string tl = esc(t.value("label", ""));
            if (t.value("accel", "") == "tcg") tl += badge("TCG", "tcg");
            if (st.value("noisy", false)) tl += badge("noisy", "noisy");
            o << "<tr><td>" << tl << "</td><td class=\"n\">" << st.value("guests", 0) << "</td><td class=\"n\">"
              << fmtn("%.2g", num(st, "per_cpu")) << "</td>"
              << ours_ci(d, file, sp + "/" + key + "/mean", sp + "/" + key + "/ci95", io ? "%.0f" : "%.3f") << "<td class=\"n\">x"
              << fmtn("%.2f", st.value("slowdown", 1.0)) << "</td><td class=\"why\">" << esc(st.value("explained", ""))
              << "</td></tr>\n";
        }
        p.lines.push_back(l);
    }
    o << "</table>\n";
    // The paper's finding, and ours in its terms.
    int kvm = -1, lxc = -1;
    for (std::size_t i = 0; i < ts.size(); ++i) {
        if (ts[i].value("id", "") == "kvm") kvm = int(i);
        if (ts[i].value("id", "") == "lxc") lxc = int(i);
    }
    std::string finding;
    if (kvm >= 0 && lxc >= 0) {
        double worst = 0, lo = INFINITY, hi = 0;
        for (const auto& a : ts[kvm].value("steps", json::array()))
            for (const auto& b : ts[lxc].value("steps", json::array()))
                if (a.value("guests", 0) == b.value("guests", 0)) {
                    const double va = num(sub(a, key), "mean"), vb = num(sub(b, key), "mean");
                    if (!(vb > 0)) continue;
                    worst = std::max(worst, std::fabs(va - vb) / vb);
                    lo = std::min(lo, va / vb);
                    hi = std::max(hi, va / vb);
                }
        if (!std::isfinite(lo))
            finding = "The VM and the container ran at no common density.";
        else if (io)
            finding = "Ours: the VM gets x" + fmtn("%.2f", lo) + " to x" + fmtn("%.2f", hi) +
                      " of the container's ops/s across densities. Paper: KVM below LXC by a near-constant factor.";
        else if (ts[kvm].value("accel", "") == "tcg") {
            // Under TCG the VM's own speed is the emulator's: compared by slowdown, each against itself alone.
            double slo = INFINITY, shi = -INFINITY;
            for (const auto& a : ts[kvm].value("steps", json::array()))
                for (const auto& b : ts[lxc].value("steps", json::array()))
                    if (a.value("guests", 0) == b.value("guests", 0) && a.value("guests", 0) > 1) {
                        const double sa = num(a, "slowdown"), sb = num(b, "slowdown");
                        if (sa > 0 && sb > 0) {
                            slo = std::min(slo, 100 * (sa / sb - 1));
                            shi = std::max(shi, 100 * (sa / sb - 1));
                        }
                    }
            finding = "Our VM ran under TCG (no hardware virtualization here): its times are the emulator's, x" +
                      fmtn("%.1f", lo) + " to x" + fmtn("%.1f", hi) + " the container's, not comparable with KVM's. ";
            if (std::isfinite(slo))
                finding += "Slowed by its neighbours, each against itself alone, the VM and the container differ by " +
                           fmt("%+.1f", slo) + " % to " + fmt("%+.1f", shi) + " %. Paper: 8.6 % in the worst case.";
        } else
            finding = "Ours: the VM and the container differ by at most " + fmtn("%.1f", worst * 100) +
                      " % at the same density. Paper: 8.6 % in the worst case.";
    }
    o << "<figure>" << render_line_plot_svg(p) << "<figcaption>" << esc(finding)
      << " The paper gives this figure as a plot only (no numbers in its text), so no paper series is drawn.</figcaption></figure>\n"
      << "</section>\n";
    return o.str();
}

// ---- io and exitcost ----

std::string io_section(const PaperInputs& in) {
    std::ostringstream o;
    o << "<section id=\"io\"><h2>Section 2.2: one fio job, and what the VM's I/O costs the host</h2>\n";
    const json* ip = result(in, "io");
    if (!ip) return o.str() + missing(in, "io") + "</section>\n";
    const json& d = *ip;
    o << "<table><tr><th>technique</th><th>section</th><th>ops/s, ours</th><th>p99 latency (&micro;s)</th><th>host CPU (s)</th></tr>\n";
    const auto& ts = d.value("techniques", json::array());
    for (std::size_t i = 0; i < ts.size(); ++i) {
        const json& summary = sub(ts[i], "summary");
        for (const auto& [sec, v] : summary.items()) {
            const std::string p = "/techniques/" + std::to_string(i) + "/summary/" + sec;
            std::string tl = esc(ts[i].value("label", ""));
            if (ts[i].value("accel", "") == "tcg") tl += badge("TCG", "tcg");
            if (sub(v, "ops_per_s").value("noisy", false)) tl += badge("noisy", "noisy");
            o << "<tr><td>" << tl << "</td><td>" << esc(sec) << "</td>"
              << ours_ci(d, "io.json", p + "/ops_per_s/mean", p + "/ops_per_s/ci95", "%.0f")
              << ours_ci(d, "io.json", p + "/p99_us/mean", p + "/p99_us/ci95", "%.0f") << "<td class=\"n\">"
              << fmtn("%.1f", num(sub(ts[i], "host_side"), "cpu_s")) << "</td></tr>\n";
        }
    }
    o << "</table>\n</section>\n";
    return o.str();
}

std::string exitcost_section(const PaperInputs& in) {
    std::ostringstream o;
    o << "<section id=\"exitcost\"><h2>What each kind of VM exit costs</h2>\n";
    const json* ep = result(in, "exitcost");
    if (!ep) return o.str() + missing(in, "exitcost") + "</section>\n";
    const json& d = *ep;
    o << "<table><tr><th>operation</th><th>&micro;s per operation</th></tr>\n";
    const auto& ph = d.value("phases", json::array());
    for (std::size_t i = 0; i < ph.size(); ++i) {
        const std::string p = "/phases/" + std::to_string(i) + "/us_per_op";
        o << "<tr><td>" << esc(ph[i].value("operation", "")) << "</td>"
          << ours_ci(d, "exitcost.json", p + "/mean", p + "/ci95", "%.2f") << "</tr>\n";
    }
    o << "</table>\n</section>\n";
    return o.str();
}

std::string plan_section(const PaperInputs& in) {
    std::ostringstream o;
    o << "<section id=\"plan\"><h2>What ran, at which sizes, and why</h2>\n";
    if (!in.paper.is_object()) return o.str() + "<p>No paper.json: the results were read as found.</p></section>\n";
    const json& plan = sub(in.paper, "plan");
    o << "<p>Budget " << esc(plan.value("budget", "")) << " (estimated " << fmt_duration(num(plan, "estimate_s"))
      << "; took " << fmt_duration(num(in.paper, "seconds")) << ").</p>\n"
      << "<table><tr><th>step</th><th>what</th><th>sizes</th><th>why these</th><th>estimated</th><th>took</th><th>status</th></tr>\n";
    auto runs = runs_of(in.paper);
    for (const auto& s : plan.value("steps", json::array())) {
        const json r = runs.count(s.value("name", "")) ? runs[s.value("name", "")] : json::object();
        const std::string status = r.value("status", "not run");
        o << "<tr><td>" << esc(s.value("name", "")) << "</td><td>" << esc(s.value("what", "")) << "</td><td>"
          << esc(s.value("sizes", "")) << "</td><td>" << esc(s.value("why", "")) << "</td><td class=\"n\">"
          << (s.value("left_out", false) ? "-" : fmt_duration(num(s, "estimate_s"))) << "</td><td class=\"n\">"
          << (num(r, "seconds") > 0 ? fmt_duration(num(r, "seconds")) : "-") << "</td><td class=\"status "
          << (status == "failed" || status == "interrupted" ? "bad" : "") << "\">" << esc(status)
          << (r.value("error", "").empty() || status == "left out" ? "" : ": " + esc(r.value("error", ""))) << "</td></tr>\n";
    }
    o << "</table>\n</section>\n";
    return o.str();
}

}  // namespace

PaperInputs read_paper_dir(const fs::path& dir) {
    PaperInputs in;
    auto load = [&](const fs::path& f, json& into) {
        std::error_code ec;
        if (!fs::is_regular_file(f, ec)) return false;
        auto text = read_text(f);
        try {
            if (!text) throw std::runtime_error("unreadable");
            into = json::parse(*text);
            return true;
        } catch (const std::exception& e) {
            in.problems.push_back(f.filename().string() + ": not valid JSON, left out of the report (" + e.what() + ")");
            return false;
        }
    };
    load(dir / "paper.json", in.paper);
    // With a paper.json, only the steps it ran or kept: a NAME.json from another run is not this one's.
    std::set<std::string> ran;
    const bool known = in.paper.is_object() && in.paper.contains("runs");
    for (const auto& [name, r] : runs_of(in.paper))
        if (step_has_result(r.value("status", ""))) ran.insert(name);
    for (const char* n : kStepNames) {
        if (known && !ran.count(n)) continue;
        json j;
        if (load(dir / (std::string(n) + ".json"), j)) in.results[n] = std::move(j);
    }
    std::error_code ec;
    in.has_trace = fs::is_regular_file(dir / "trace" / "flamegraph-cpu.svg", ec);
    return in;
}

std::vector<std::string> paper_differences(const PaperInputs& in) {
    std::vector<std::string> out;
    const json& host = host_of(in);
    const std::string kernel = host.value("kernel", "?");
    const bool tcg = accel_of(in) == "tcg";
    auto cause = [&](bool vm) {
        if (vm && tcg) return std::string(" This host has no VT-x/AMD-V: its VMs ran under QEMU's TCG emulation, not KVM.");
        return " Here: Linux " + kernel + " on " + std::to_string(host.value("cpus", 0)) + " CPUs (" + host.value("cpu", "?") +
               "); the paper's: Linux 3.16, LXC 1.1, 4 cores.";
    };
    // `ci` (optional): our figure's 95 % interval. One that holds zero is said as noise, with
    // `resolved` (what part of it is resolved, or ""), not as a difference.
    auto compare = [&](const std::string& what, double ours, double paper, const std::string& unit, bool vm,
                       const char* more, const char* less, double ci = NAN, const std::string& resolved = "") {
        if (std::isnan(ours) || std::isnan(paper) || paper <= 0) return;
        if (within_noise(ours, ci)) {
            out.push_back(what + " an amount within the noise here: " + fmt("%.1f", ours) + " ± " + fmt("%.1f", ci) + " " +
                          unit + " (its 95 % interval holds zero), so it is not compared with the paper's " +
                          fmt(paper < 1 ? "%.3f" : "%.1f", paper) + " " + unit + "." + resolved);
            return;
        }
        if (ours <= 0) return;
        const double r = ours / paper;
        if (r < 1.5 && r > 1 / 1.5) return;
        out.push_back(what + " " + (r > 1 ? more : less) + " here: x" + fmtn("%.1f", r > 1 ? r : 1 / r) + " (" +
                      fmt(ours < 1 ? "%.3f" : "%.1f", ours) + " " + unit + " vs the paper's " +
                      fmt(paper < 1 ? "%.3f" : "%.1f", paper) + " " + unit + ")." + cause(vm));
    };
    if (const json* s = result(in, "startup")) {
        for (const auto& t : s->value("techniques", json::array()))
            compare(t.value("label", "") + " starts", num(t, "mean_s"), t.value("paper_s", json()).is_number() ? t["paper_s"].get<double>() : NAN,
                    "s", t.value("accel", json()).is_string(), "slower", "faster");
        const double kvm = mean_of(*s, "kvm"), lxc = mean_of(*s, "lxc");
        if (kvm > 0 && lxc > 0)
            compare("The VM/container start-up gap is", kvm / lxc, kPaperStartupKvmS / kPaperStartupLxcS, "x", true, "wider",
                    "narrower");
    }
    if (const json* m = result(in, "memory")) {
        for (const auto& s : m->value("series", json::array())) {
            const bool vm = s.value("accel", json()).is_string();
            if (s.value("steps", json::array()).empty() || !s.contains("paper") || (vm && !s.value("ksm", false))) continue;
            const auto& steps = s["steps"];
            double single = num(sub(steps[0], "per_guest_mb"), "mean"), added = num(steps.back(), "incremental_mb");
            std::string label = s.value("label", "");
            // Under TCG a VM's footprint holds TCG's code cache, which KVM has not: compared without it.
            auto no_tcg = [](const json& st) {
                const json& p = sub(st, "vm_parts_mb_per_guest");
                return p.contains("guest_ram") ? num(p, "guest_ram") + num(p, "qemu") : double(NAN);
            };
            if (vm && s.value("accel", "") == "tcg" && !std::isnan(no_tcg(steps[0]))) {
                single = no_tcg(steps[0]);
                added = NAN;
                if (steps.size() >= 2) {
                    const json &a = steps[steps.size() - 2], &b = steps.back();
                    const double ga = a.value("guests", 0), gb = b.value("guests", 0);
                    if (gb > ga) added = (no_tcg(b) * gb - no_tcg(a) * ga) / (gb - ga);
                }
                label += " without TCG's code cache";
            }
            compare(label + " alone takes", single, num(sub(s, "paper"), "single_mb"), "MB", vm, "more memory",
                    "less memory");
            compare(label + " costs per added guest", added, num(sub(s, "paper"), "limit_mb"), "MB", vm, "more", "less");
        }
    }
    if (const json* d = result(in, "devices")) {
        for (const auto& r : d->value("devices", json::array()))
            if (r.value("paper_saving_mb", json()).is_number()) {
                const ComparedSaving cs = compared_saving(r, tcg);
                const double q = num(r, "saving_in_qemu_mb"), qci = num(r, "saving_in_qemu_ci95_mb");
                const std::string resolved =
                    std::isnan(q) || within_noise(q, qci)
                        ? ""
                        : " What QEMU itself saves is resolved: " + fmt("%.1f", q) + " ± " + fmt("%.1f", qci) +
                              " MB; guest RAM varies from boot to boot by more than the rest (" +
                              std::to_string(r.value("guests", 0)) + " VMs per set).";
                compare("Removing " + r.value("devices", "") + (cs.without_tcg_cache ? " (without TCG's code cache)" : "") + " saves",
                        cs.mb, r["paper_saving_mb"].get<double>(), "MB", true, "more", "less", cs.ci95, resolved);
            }
    }
    if (const json* d = result(in, "dedup"); d && str_at(*d, "/guest/kind") == "vm") {
        double total = 0;
        for (const char* k : {"within_guest", "guest_host", "guest_guest"}) total += num_at(*d, std::string("/table1/") + k + "/total");
        compare("A VM's duplicate pages come to", total * 4096 / 1048576.0, kPaperTable1Mb[3][3], "MB", true, "more", "less");
    }
    return out;
}

std::string render_paper_html(const PaperInputs& in) {
    const json& host = host_of(in);
    const std::string accel = accel_of(in);
    std::ostringstream o;
    o << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
      << "<title>hypetrace: Containing the Hype, reproduced on " << esc(host.value("hostname", "this host")) << "</title>\n"
      << "<style>\n"
         "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222;line-height:1.4}\n"
         "h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}\n"
         "table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:.25em .6em;vertical-align:top}\n"
         "th{background:#f3f3f3;text-align:left}td.n{text-align:right;white-space:nowrap}td.paper{color:#555;font-style:italic}\n"
         "td.na{color:#888}td.why{font-size:.85em}td.sep{border:none;width:1em}.ci{color:#666;font-size:.85em}\n"
         ".badge{font-size:.75em;padding:0 .4em;border-radius:.6em;color:white}.badge.tcg{background:#b35900}\n"
         ".badge.noisy{background:#888}tr.refused td{color:#777}.host{background:#f8f8f8;padding:.6em 1em;border-left:4px solid #1f77b4}\n"
         ".tcgnote{background:#fff4e5;padding:.6em 1em;border-left:4px solid #b35900}.missing{color:#a00}.notrun{color:#666;font-style:italic}td.status.bad{color:#a00}\n"
         "figure{margin:1em 0}figcaption{font-size:.9em;color:#444;max-width:880px}\n"
         "</style></head><body>\n"
      << "<h1>Containing the Hype (APSys '15), reproduced by hypetrace</h1>\n"
      << "<div class=\"host\"><b>This host:</b> " << esc(host.value("hostname", "?")) << ", " << esc(host.value("os", "?"))
      << ", Linux " << esc(host.value("kernel", "?")) << ", " << esc(host.value("cpu", "?")) << " x" << host.value("cpus", 0)
      << ", " << fmtn("%.1f", num(host, "memory_mb") / 1024) << " GiB; VMs under <b>"
      << (accel == "kvm" ? "KVM" : accel == "tcg" ? "TCG (QEMU's emulator: no VT-x/AMD-V here)" : "-") << "</b>.<br>"
      << "<b>The paper's host:</b> " << kPaperHost << ".</div>\n";
    if (accel == "tcg")
        o << "<p class=\"tcgnote\">Every row marked <span class=\"badge tcg\">TCG</span> ran its VM under QEMU's TCG: it is "
             "measured, but not comparable with the paper's KVM figures.</p>\n";
    for (const auto& p : in.problems) o << "<p class=\"missing\">" << esc(p) << "</p>\n";
    o << "<nav><a href=\"#table3\">Table 3</a> &middot; <a href=\"#figure4\">Figure 4</a> &middot; <a href=\"#kernels\">kernels</a> &middot; "
         "<a href=\"#table2\">Table 2</a> "
         "&middot; <a href=\"#table1\">Table 1</a> &middot; <a href=\"#density-quantum\">Figure 1</a> &middot; "
         "<a href=\"#density-chess\">Figure 2</a> &middot; <a href=\"#density-io\">Figure 3</a> &middot; "
         "<a href=\"#differences\">differences</a> &middot; <a href=\"#plan\">what ran</a></nav>\n";
    o << table3(in) << figure4(in) << kernels_section(in) << table2(in) << table1(in)
      << density_figure(in, "density-quantum", "Figure 1: CPU-bound (quantum simulation) while the others busy-loop")
      << density_figure(in, "density-chess", "Figure 2: CPU-bound (chess search) while the others busy-loop")
      << density_figure(in, "density-io", "Figure 3: I/O-bound (fileserver) while the others busy-loop") << io_section(in)
      << exitcost_section(in);
    o << "<section id=\"differences\"><h2>Differences from the paper</h2>\n";
    const auto diffs = paper_differences(in);
    if (diffs.empty()) o << "<p>Every figure compared is within a factor of 1.5 of the paper's.</p>\n";
    else {
        o << "<p>Each of our figures more than 1.5 times off the paper's, either way, and what differs here:</p><ul>\n";
        for (const auto& d : diffs) o << "<li>" << esc(d) << "</li>\n";
        o << "</ul>\n";
    }
    o << "</section>\n";
    if (in.has_trace)
        o << "<p>Traces of a start-up: <a href=\"trace/flamegraph-cpu.svg\">CPU flame graph</a>, "
             "<a href=\"trace/timeline.json\">timeline</a> (open in Perfetto).</p>\n";
    o << plan_section(in);
    o << "<p class=\"foot\">Each number of ours links to its JSON (data-src) beside this file. Written by hypetrace "
      << esc(HYPETRACE_VERSION) << " at " << esc(utc_now()) << ".</p>\n</body></html>\n";
    return o.str();
}

std::string render_paper_text(const PaperInputs& in) {
    std::ostringstream o;
    if (const json* s = result(in, "startup")) {
        std::vector<std::vector<std::string>> rows{{"Table 3", "ours (s)", "95 % CI", "paper (s)"}};
        for (const auto& t : s->value("techniques", json::array()))
            rows.push_back({t.value("label", ""), fmtn("%.3f", num(t, "mean_s")), "+-" + fmtn("%.3f", num(t, "ci95_s")),
                            t.value("paper_s", json()).is_number() ? fmtn("%.3f", t["paper_s"].get<double>()) : "-"});
        for (const auto& n : s->value("not_measured", json::array()))
            rows.push_back({n.value("technique", ""), "not measured", "", ""});
        o << render_table(rows, {false, true, true, true}) << "\n";
    }
    for (const auto& d : paper_differences(in)) o << "  - " << d << "\n";
    return o.str();
}

}  // namespace ht
