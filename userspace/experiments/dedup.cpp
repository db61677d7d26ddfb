// SPDX-License-Identifier: MIT
#include "experiments/dedup.h"
#include "core/base/setting.h"

#include "core/base/clock.h"
#include "core/base/error.h"
#include "core/host/interrupt.h"
#include "core/memscan/memusage.h"
#include "core/host/proc.h"
#include "core/base/text.h"
#include "core/views/report.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <dirent.h>
#include <filesystem>
#include <map>
#include <memory>
#include <sstream>
#include <thread>
#include <unistd.h>

namespace ht {
namespace {

double pages_mb(uint64_t pages) { return double(pages) * 4096.0 / (1024.0 * 1024.0); }
std::string mb(uint64_t pages) { return fmt("%.1f", pages_mb(pages)); }

std::vector<std::string> split_nul(const std::string& s) {
    std::vector<std::string> out;
    std::string cur;
    for (char c : s) {
        if (c == 0) {
            out.push_back(cur);
            cur.clear();
        } else {
            cur += c;
        }
    }
    if (!cur.empty()) out.push_back(cur);
    return out;
}

std::string cmdline_of(pid_t pid) { return read_text("/proc/" + std::to_string(pid) + "/cmdline").value_or(""); }

std::map<pid_t, pid_t> parent_map() {
    std::map<pid_t, pid_t> out;
    for (pid_t p : all_pids())
        if (auto st = read_text("/proc/" + std::to_string(p) + "/stat"))
            if (auto ps = parse_proc_stat(*st)) out[p] = ps->ppid;
    return out;
}

bool is_qemu_cmdline(const std::string& cmd) {
    auto args = split_nul(cmd);
    if (args.empty()) return false;
    std::string exe = std::filesystem::path(args[0]).filename().string();
    return exe.rfind("qemu-system", 0) == 0 || exe.rfind("qemu-kvm", 0) == 0;
}

GuestRef vm_ref(const std::string& name, const std::string& how, pid_t pid) {
    GuestRef g;
    g.name = name;
    g.kind = "vm";
    g.how = how;
    g.main_pid = pid;
    g.pids = {pid};
    g.ram_bytes = qemu_ram_from_cmdline(cmdline_of(pid));
    return g;
}

}  // namespace

std::string qemu_name_from_cmdline(const std::string& cmd) {
    auto args = split_nul(cmd);
    for (std::size_t i = 0; i + 1 < args.size(); ++i) {
        if (args[i] != "-name") continue;
        std::string v = args[i + 1];
        // "guest=NAME,debug-threads=on" or "NAME" (",," escapes a comma; names rarely have one)
        std::string first = v.substr(0, v.find(','));
        if (first.rfind("guest=", 0) == 0) return first.substr(6);
        if (first.find('=') == std::string::npos) return first;
        auto p = v.find("guest=");
        if (p != std::string::npos) return v.substr(p + 6, v.find(',', p) - (p + 6));
    }
    return {};
}

uint64_t qemu_ram_from_cmdline(const std::string& cmd) {
    auto args = split_nul(cmd);
    for (std::size_t i = 0; i + 1 < args.size(); ++i) {
        if (args[i] != "-m") continue;
        std::string v = args[i + 1];
        auto p = v.find("size=");
        if (p != std::string::npos) v = v.substr(p + 5);
        v = v.substr(0, v.find(','));
        char* end = nullptr;
        double n = strtod(v.c_str(), &end);
        if (end == v.c_str()) return 0;
        char u = *end ? char(toupper(*end)) : 'M';
        double mult = u == 'G' ? 1024.0 * 1024 * 1024 : u == 'K' ? 1024.0 : u == 'T' ? 1024.0 * 1024 * 1024 * 1024
                                                                                       : 1024.0 * 1024;
        return uint64_t(n * mult);
    }
    return 0;
}

std::vector<pid_t> process_tree(pid_t root) {
    auto parents = parent_map();
    std::vector<pid_t> out{root};
    for (std::size_t i = 0; i < out.size(); ++i)
        for (auto [p, pp] : parents)
            if (pp == out[i] && p != root) out.push_back(p);
    return out;
}

std::vector<GuestRef> list_guests() {
    std::vector<GuestRef> out;
    auto parents = parent_map();
    for (auto [pid, ppid] : parents) {
        (void)ppid;
        std::string cmd = cmdline_of(pid);
        if (is_qemu_cmdline(cmd)) {
            std::string name = qemu_name_from_cmdline(cmd);
            out.push_back(vm_ref(name.empty() ? std::to_string(pid) : name, "QEMU process", pid));
        } else if (cmd.rfind("[lxc monitor] ", 0) == 0) {
            auto words = split_nul(cmd);
            std::istringstream in(words.empty() ? "" : words[0].substr(14));
            std::string path, name;
            in >> path >> name;
            if (name.empty() && words.size() >= 3) name = words[2];
            for (auto [child, parent] : parents)
                if (parent == pid) {
                    GuestRef g;
                    g.name = name;
                    g.kind = "container";
                    g.how = "LXC container (" + path + ")";
                    g.main_pid = child;
                    g.pids = process_tree(child);
                    out.push_back(g);
                    break;
                }
        }
    }
    return out;
}

GuestRef resolve_guest(const std::string& what) {
    if (!what.empty() && std::all_of(what.begin(), what.end(), ::isdigit)) {
        const pid_t max = pid_max();
        auto parsed = parse_pid(what, max);
        if (!parsed)
            throw UserError(not_a_pid(what, max));
        const pid_t pid = *parsed;
        if (!process_alive(pid)) throw UserError("no process " + what + " (" + ref(Setting::pid) + "): is the guest running?");
        std::string cmd = cmdline_of(pid);
        if (is_qemu_cmdline(cmd)) return vm_ref(what, ref(Setting::pid) + " (QEMU)", pid);
        GuestRef g;
        g.name = what;
        g.kind = "process";
        g.how = ref(Setting::pid) + " and its descendants";
        g.main_pid = pid;
        g.pids = process_tree(pid);
        return g;
    }
    // The name becomes a path component below (libvirt's pid file): one component, printable.
    if (what.empty() || what == "." || what == ".." || what.find('/') != std::string::npos ||
        std::any_of(what.begin(), what.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }))
        throw UserError("'" + visible(what) + "' is not a guest name: a name has no '/', is not '.' or '..', and has "
                        "no control characters (hypetrace dedup " + ref(Setting::list) + " shows the running guests)");
    // A libvirt domain: libvirtd writes the QEMU pid next to the domain's runtime state.
    if (auto t = read_text("/run/libvirt/qemu/" + what + ".pid")) {
        pid_t pid = pid_t(atol(t->c_str()));
        if (pid > 0 && process_alive(pid)) return vm_ref(what, "libvirt domain", pid);
    }
    auto all = list_guests();
    for (auto& g : all)
        if (g.name == what) {
            if (g.how == "QEMU process") g.how = "QEMU -name";
            return g;
        }
    std::string names;
    for (const auto& g : all) names += (names.empty() ? "" : ", ") + g.name;
    throw UserError("no running guest named '" + what + "' (looked for a libvirt domain, an LXC container and a QEMU -name" +
                    (names.empty() ? "; none is running" : "; running: " + names) +
                    "): give its name or " + ref(Setting::pid) + ", or let hypetrace boot one with " + ref(Setting::kvm) +
                    " or " + ref(Setting::lxc));
}

DedupResult run_dedup(const DedupConfig& cfg, const HostInfo& host) {
    DedupResult r;
    r.host = host;
    r.started_at = utc_now();
    r.guest = cfg.guest;
    r.other = cfg.other;
    r.host_scanned = cfg.host;
    r.ksm_at_scan = read_ksm_settings("/sys/kernel/mm/ksm");
    r.thp = read_text("/sys/kernel/mm/transparent_hugepage/enabled").value_or("");
    if (auto b = r.thp.find('['); b != std::string::npos) r.thp = r.thp.substr(b + 1, r.thp.find(']') - b - 1);
    else r.thp.clear();

    IndexSources src;
    src.guest = cfg.guest.pids;
    if (cfg.other) src.other = cfg.other->pids;
    src.host = cfg.host;
    src.guest_ram_bytes = cfg.guest.ram_bytes;
    src.progress = cfg.progress;
    // KSM frames can only be where KSM has frames or runs: asked before the scan and after it.
    const bool ksm_before = ksm_frames_possible();
    src.ksm_frames_possible = ksm_before;
    std::vector<PageRef> refs = build_page_index(src, &r.stats);
    throw_if_interrupted();
    r.index_entries = refs.size();
    r.index_bytes = refs.capacity() * sizeof(PageRef);
    if (r.stats.processes[0] == 0) throw UserError("guest " + cfg.guest.name + " exited before it could be scanned");

    uint64_t c0 = mono_ns();
    collapse_frames(refs, kpage_reader(), ksm_before || ksm_frames_possible());
    double collapse_s = double(mono_ns() - c0) / 1e9;
    std::vector<uint64_t> image;
    if (!cfg.image_dir.empty()) {  // after the scan: reading the files fills the page cache
        if (cfg.progress) cfg.progress("hashing the files of the guest image in " + cfg.image_dir);
        uint64_t bytes = 0;
        image = hash_file_blocks(cfg.image_dir, &r.image_files, &bytes);
        r.image_blocks = bytes / 4096;
    }
    c0 = mono_ns();
    std::vector<uint64_t> host_hashes, guest_pfns;
    r.table = classify_frames(refs, image, cfg.ksm_model, &host_hashes, &guest_pfns);
    r.stats.classify_s = collapse_s + double(mono_ns() - c0) / 1e9;
    if (cfg.host) r.host_copies_in_files = pages_in_files(r.stats.cache_files, host_hashes, guest_pfns);
    r.self_peak_rss_mb = double(self_peak_rss_kb()) / 1024.0;
    return r;
}

void check_ksm_estimate(DedupResult& r, HostSettingsGuard& guard, double timeout_s,
                        const std::function<void(const std::string&)>& progress) {
    KsmCheck& k = r.ksm_check;
    k.done = true;
    k.estimate = r.table.ksm_estimated_sharing;
    k.before = read_ksm_counters();
    guard.enable(20000, 20);
    const uint64_t t0 = mono_ns();
    std::vector<uint64_t> sharing_at_scan;
    uint64_t last_scans = k.before.full_scans, last_say = t0;
    for (;;) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        throw_if_interrupted();
        KsmCounters c = read_ksm_counters();
        if (c.full_scans != last_scans) {
            last_scans = c.full_scans;
            sharing_at_scan.push_back(c.pages_sharing);
        }
        const std::size_t n = sharing_at_scan.size();
        // Pages merge on the second scan that sees them unchanged: wait for three full scans,
        // then for two in a row within 1 %.
        if (n >= 4) {
            double a = double(sharing_at_scan[n - 2]), b = double(sharing_at_scan[n - 1]);
            if (std::fabs(b - a) <= 0.01 * std::max(1.0, b)) {
                k.settled = true;
                k.note = "pages_sharing within 1% over the last two of " + std::to_string(n) + " full scans";
                break;
            }
        }
        const uint64_t now = mono_ns();
        if (now - t0 > uint64_t(timeout_s * 1e9)) {
            k.note = "not settled after " + fmt("%.0f", timeout_s) + " s";
            break;
        }
        if (progress && now - last_say > 5'000'000'000ULL) {
            last_say = now;
            progress("KSM on: " + std::to_string(n) + " full scans, pages_sharing " + std::to_string(c.pages_sharing));
        }
    }
    k.after = read_ksm_counters();
    k.settle_s = double(mono_ns() - t0) / 1e9;
    // Put the guests' memory back as it was: what the check merged is unmerged again, unless KSM
    // was running before anyway.
    auto run = guard.saved().find("run");
    if (run != guard.saved().end() && run->second == "1") guard.disable();
    else guard.unmerge();
}

nlohmann::json to_json(const DedupResult& r) {
    const DedupTable& t = r.table;
    auto guest_json = [](const GuestRef& g) {
        return nlohmann::json{{"name", g.name}, {"kind", g.kind}, {"found_as", g.how}, {"main_pid", g.main_pid},
                              {"pids", g.pids}, {"ram_bytes", g.ram_bytes}};
    };
    static const char* rows[] = {"within_guest", "guest_host", "guest_guest"};
    static const char* cols[] = {"anon_anon", "file_file", "anon_file"};
    nlohmann::json table = nlohmann::json::object();
    for (int i = 0; i < 3; ++i) {
        nlohmann::json row;
        for (int c = 0; c < 3; ++c) row[cols[c]] = t.cell[i][c];
        row["total"] = t.row_total(i);
        row["ksm_registered_now"] = t.ksm_now[i];
        table[rows[i]] = row;
    }
    nlohmann::json parts = nlohmann::json::array();
    for (int p = 1; p < kGuestParts; ++p) {
        if (!t.part_frames[p]) continue;
        parts.push_back({{"part", to_string(GuestPart(p))},
                         {"frames", t.part_frames[p]},
                         {"duplicate", t.part_dup[p]},
                         {"shared", t.part_shared[p]},
                         {"unique", t.part_frames[p] - t.part_dup[p] - t.part_shared[p]}});
    }
    nlohmann::json j{
        {"schema", kDedupSchemaVersion},
        {"tool", "hypetrace dedup"},
        {"units", "pages of 4096 bytes"},
        {"started_at", r.started_at},
        {"host", host_json(r.host)},
        {"guest", guest_json(r.guest)},
        {"table1", table},
        {"zero", {{"frames", t.zero_frames}, {"anon", t.zero_anon}, {"ksm_registered", t.zero_mergeable}}},
        {"guest_frames", {{"all", t.frames}, {"anon", t.anon_frames}, {"file", t.file_frames}}},
        {"already_shared",
         {{"with_host", t.shared_with_host},
          {"with_other_guest", t.shared_with_other},
          {"mapped_more_than_once_within_guest", t.shared_within},
          {"ksm_frames", t.ksm_frames},
          {"maps_kernel_zero_page", t.zero_pfn > 0}}},
        {"parts", parts},
        {"guest_ram",
         {{"image_files_known", t.image_files_known},
          {"image_file_content", t.ram_image_file},
          {"zero", t.ram_zero},
          {"other", t.ram_other}}},
        {"ksm_estimate",
         {{"registered_frames", t.ksm_candidate_frames},
          {"pages_shared", t.ksm_estimated_shared},
          {"pages_sharing", t.ksm_estimated_sharing},
          {"zero_pages", t.ksm_estimated_zero}}},
        {"scan",
         {{"processes", {{"guest", r.stats.processes[0]}, {"other_guest", r.stats.processes[1]}, {"host", r.stats.processes[2]}}},
          {"pages", {{"guest", r.stats.pages[0]}, {"other_guest", r.stats.pages[1]}, {"host", r.stats.pages[2]}, {"page_cache", r.stats.pages[3]}}},
          {"files", r.stats.files},
          {"files_skipped", r.stats.files_skipped},
          {"unreadable_pages", r.stats.unreadable_pages},
          {"vanished_processes", r.stats.vanished},
          {"scan_s", r.stats.scan_s},
          {"scan_threads", r.stats.threads},
          {"scan_phases_s",
           {{"maps", r.stats.maps_s}, {"pages", r.stats.pages_s}, {"cache_find", r.stats.cache_find_s}, {"cache", r.stats.cache_s}}},
          {"classify_s", r.stats.classify_s},
          {"gb_per_s", r.stats.bytes() / 1e9 / std::max(1e-9, r.stats.scan_s + r.stats.classify_s)},
          {"index_entries", r.index_entries},
          {"index_bytes", r.index_bytes},
          {"index_bytes_per_page", r.index_entries ? double(r.index_bytes) / double(r.index_entries) : 0.0},
          {"guest_ram_mapping", r.stats.guest_ram},
          {"self_peak_rss_mb", r.self_peak_rss_mb}}},
        {"ksm_settings_at_scan", r.ksm_at_scan},
        {"thp", r.thp},
        {"host_scanned", r.host_scanned},
    };
    nlohmann::json copies = nlohmann::json::array();
    for (const auto& [file, pages] : r.host_copies_in_files) copies.push_back({{"file", file}, {"pages", pages}});
    j["host_copies_in_files"] = copies;
    if (r.other) j["other_guest"] = guest_json(*r.other);
    if (!r.guest_command.empty()) j["guest_command"] = r.guest_command;
    if (!r.accel.empty()) j["accel"] = r.accel;
    if (r.ksm_check.done)
        j["ksm_check"] = {{"estimate_pages_sharing", r.ksm_check.estimate},
                          {"pages_sharing_before", r.ksm_check.before.pages_sharing},
                          {"pages_sharing_after", r.ksm_check.after.pages_sharing},
                          {"pages_shared_after", r.ksm_check.after.pages_shared},
                          {"full_scans", r.ksm_check.after.full_scans - r.ksm_check.before.full_scans},
                          {"settled", r.ksm_check.settled},
                          {"note", r.ksm_check.note},
                          {"settle_s", r.ksm_check.settle_s}};
    return j;
}

std::string render_text(const DedupResult& r) {
    const DedupTable& t = r.table;
    std::ostringstream o;
    auto guest_line = [](const GuestRef& g) {
        return g.name + " (" + g.kind + ", " + g.how + ", main pid " + std::to_string(g.main_pid) + ", " +
               std::to_string(g.pids.size()) + " process" + (g.pids.size() == 1 ? "" : "es") + ")";
    };
    o << "hypetrace dedup: page-content duplicates of one guest (paper Table 1)\n";
    o << host_line(r.host) << "\n";
    o << "guest:        " << guest_line(r.guest) << (r.accel.empty() ? "" : ", " + r.accel) << "\n";
    if (r.other) o << "second guest: " << guest_line(*r.other) << "\n";
    else o << "second guest: none (the 'between the two guests' row is empty; give " << ref(Setting::vs_guest) << ")\n";
    std::string ksm_run = r.ksm_at_scan.count("run") ? r.ksm_at_scan.at("run") : "?";
    o << "while scanned: KSM run=" << ksm_run << ", THP " << (r.thp.empty() ? "n/a" : r.thp) << "\n";
    if (!r.stats.guest_ram.empty()) o << "guest RAM mapping: " << r.stats.guest_ram << "\n";
    const IndexStats& s = r.stats;
    const double secs = s.scan_s + s.classify_s;
    o << "scanned " << fmt("%.2f", double(s.bytes()) / 1e9) << " GB resident (guest " << mb(s.pages[0]) << " MB";
    if (r.other) o << ", second guest " << mb(s.pages[1]) << " MB";
    if (r.host_scanned)
        o << ", " << s.processes[2] << " host processes " << mb(s.pages[2]) << " MB, host page cache of " << s.files
          << " files " << mb(s.pages[3]) << " MB";
    else
        o << "; host not scanned (" << ref(Setting::no_host) << ")";
    o << ") in " << fmt("%.2f", secs)
      << " s (read+hash " << fmt("%.2f", s.scan_s) << " on " << s.threads << (s.threads == 1 ? " thread" : " threads")
      << ", classify " << fmt("%.2f", s.classify_s) << "): "
      << fmt("%.2f", double(s.bytes()) / 1e9 / std::max(1e-9, secs)) << " GB/s; index "
      << fmt("%.0f", r.index_entries ? double(r.index_bytes) / double(r.index_entries) : 0.0) << " B/page ("
      << fmt("%.1f", double(r.index_bytes) / 1048576.0) << " MiB)";
    if (s.unreadable_pages) o << "; " << s.unreadable_pages << " pages unreadable (device memory)";
    if (s.vanished) o << "; " << s.vanished << " processes exited while scanned";
    o << "\n\n";

    o << "The guest maps " << mb(t.frames) << " MB in distinct frames (anonymous " << mb(t.anon_frames) << ", file "
      << mb(t.file_frames) << "); " << mb(t.total() + t.zero_frames) << " MB of it duplicates other memory:\n\n";
    static const char* row_names[] = {"within the guest", "between guest and host", "between the two guests"};
    const auto& paper = kPaperTable1Mb;
    std::vector<std::vector<std::string>> rows{{"duplicate MB", "anon/anon", "file/file", "anon/file", "total", "",
                                                "paper: a/a", "f/f", "a/f", "total"}};
    auto pfmt = [](double v) { return fmt(v < 1 ? "%.1f" : "%.0f", v); };
    for (int i = 0; i < 3; ++i)
        rows.push_back({row_names[i], mb(t.cell[i][0]), mb(t.cell[i][1]), mb(t.cell[i][2]), mb(t.row_total(i)), "",
                        pfmt(paper[i][0]), pfmt(paper[i][1]), pfmt(paper[i][2]), pfmt(paper[i][3])});
    rows.push_back({"total", mb(t.col_total(0)), mb(t.col_total(1)), mb(t.col_total(2)), mb(t.total()), "",
                    pfmt(paper[3][0]), pfmt(paper[3][1]), pfmt(paper[3][2]), pfmt(paper[3][3])});
    rows.push_back({"zero-filled (apart)", mb(t.zero_anon), mb(t.zero_frames - t.zero_anon), "", mb(t.zero_frames), "",
                    "", "", "", ""});
    o << render_table(rows, {false, true, true, true, true, false, true, true, true, true});
    o << "Each duplicate frame is counted once, in the first row that explains it. Zero-filled frames are\n"
         "apart (columns: anonymous, file). The paper's guest mapped " << fmt("%.0f", kPaperTable1VmMb) << " MB; Table 1 is from its section 4.1.\n";
    if (!r.host_copies_in_files.empty()) {
        o << "The host's copies of 'between guest and host' pages, in the page cache of:";
        std::size_t shown = 0;
        for (const auto& [file, pages] : r.host_copies_in_files) {
            if (shown++ == 5) {
                o << ", ... (" << r.host_copies_in_files.size() - 5 << " more files)";
                break;
            }
            o << (shown > 1 ? "," : "") << " " << file << " " << mb(pages) << " MB";
        }
        o << " (the rest: host processes' own memory).\n";
    }
    o << "\n";

    const uint64_t ksm_type = t.col_total(kAnonAnon);
    const uint64_t ksm_now = t.ksm_now[0] + t.ksm_now[1] + t.ksm_now[2];
    o << "KSM can merge (anonymous with anonymous): " << mb(ksm_type + t.zero_anon) << " MB (" << mb(ksm_type)
      << " + " << mb(t.zero_anon) << " zero-filled); registered with KSM on both sides now: "
      << mb(ksm_now + t.zero_mergeable) << " MB.\n";
    o << "KSM cannot merge (a file page on either side): " << mb(t.col_total(kFileFile) + t.col_total(kAnonFile))
      << " MB (file/file " << mb(t.col_total(kFileFile)) << ", anon/file " << mb(t.col_total(kAnonFile))
      << "); paper 26 MB.\n";
    o << "Already shared, counted once and not above: with the host " << mb(t.shared_with_host)
      << " MB, with the second guest " << mb(t.shared_with_other) << " MB; of the guest's own frames, "
      << mb(t.shared_within) << " MB mapped more than once, " << mb(t.ksm_frames) << " MB KSM frames"
      << (t.zero_pfn ? "; reads of untouched memory map the kernel's zero page (no memory of its own)" : "") << ".\n";
    o << "Host-wide, if KSM ran now: " << t.ksm_candidate_frames << " registered anonymous frames with a twin -> pages_sharing "
      << t.ksm_estimated_sharing << " (" << mb(t.ksm_estimated_sharing) << " MB saved), pages_shared "
      << t.ksm_estimated_shared;
    if (t.ksm_estimated_zero) o << ", " << t.ksm_estimated_zero << " zero pages to the kernel zero page";
    o << ".\n\n";

    o << "Where the guest's memory is (section 4), MB:\n";
    std::vector<std::vector<std::string>> prow{{"part", "mapped", "duplicate", "already shared", "unique"}};
    uint64_t tf = 0, td = 0, ts = 0;
    for (int p = 1; p < kGuestParts; ++p) {
        if (!t.part_frames[p]) continue;
        prow.push_back({to_string(GuestPart(p)), mb(t.part_frames[p]), mb(t.part_dup[p]), mb(t.part_shared[p]),
                        mb(t.part_frames[p] - t.part_dup[p] - t.part_shared[p])});
        tf += t.part_frames[p];
        td += t.part_dup[p];
        ts += t.part_shared[p];
    }
    prow.push_back({"all", mb(tf), mb(td), mb(ts), mb(tf - td - ts)});
    o << render_table(prow, {false, true, true, true, true});
    if (t.part_frames[int(GuestPart::guest_ram)]) {
        o << "Guest RAM content: ";
        if (t.image_files_known)
            o << mb(t.ram_image_file) << " MB equal a 4 KiB block of a file of the guest image (page cache, "
              << r.image_files << " files hashed), " << mb(t.ram_zero) << " MB zero-filled, " << mb(t.ram_other)
              << " MB other (anonymous memory, kernel, caches of other data).";
        else
            o << mb(t.ram_zero) << " MB zero-filled, " << mb(t.ram_other)
              << " MB other (give " << ref(Setting::image_files) << " DIR to tell the guest's page cache of those files apart).";
        o << "\nPaper: of 91 MB unique per VM, 23 MB QEMU, 2 MB EPT tables, 66 MB guest RAM (11 anonymous, 55 page cache).\n";
    }
    if (r.ksm_check.done) {
        const KsmCheck& k = r.ksm_check;
        const double actual = double(k.after.pages_sharing);
        o << "\nKSM check: estimate pages_sharing " << k.estimate << ", KSM reached " << k.after.pages_sharing
          << " after " << fmt("%.1f", k.settle_s) << " s (" << k.note << ")";
        if (actual > 0) o << ": estimate " << fmt("%+.1f", (double(k.estimate) - actual) / actual * 100) << "% of actual";
        o << ".\n";
    }
    return o.str();
}

namespace {

FleetConfig dedup_fleet_config(const DedupBootConfig& cfg) {
    FleetConfig fc;
    fc.driver = cfg.driver;
    fc.id = cfg.containers ? "lxc" : "kvm";
    fc.label = cfg.containers ? "LXC" : "KVM";
    fc.tag = "dedup";
    fc.images = cfg.images;
    fc.rootfs = RootfsMode::shared;
    fc.accel = cfg.accel;
    fc.boot_timeout_s = cfg.boot_timeout_s > 0 ? cfg.boot_timeout_s : default_ready_timeout_s(cfg.driver->kind(), cfg.accel);
    return fc;
}

}  // namespace

void preflight_dedup_guests(const DedupBootConfig& cfg) {
    const FleetConfig fc = dedup_fleet_config(cfg);
    fc.driver->preflight(fleet_guest_spec(fc));
}

BootedGuests boot_dedup_guests(HostSettingsGuard& guard, const DedupBootConfig& cfg) {
    const FleetConfig fc = dedup_fleet_config(cfg);
    auto progress = [&](const std::string& line) {
        if (cfg.progress) cfg.progress(line);
    };
    BootedGuests b;
    if (!cfg.containers) b.accel = to_string(cfg.accel);
    // As the paper: KSM and huge pages off, so pages are compared 4 KiB by 4 KiB, unmerged.
    guard.disable();
    if (cfg.thp != "keep") guard.set_thp(cfg.thp);
    b.fleet = std::make_unique<GuestFleet>(fc);
    GuestFleet& fleet = *b.fleet;
    for (unsigned i = 0; i < cfg.guests; ++i) fleet.add();
    progress("booting " + std::to_string(cfg.guests) + " " + fc.label + " guest" + (cfg.guests > 1 ? "s" : "") +
             (!cfg.containers ? " (" + b.accel + ")" : ""));
    const uint64_t t0 = mono_ns();
    for (auto& m : fleet.members()) fleet.launch(*m);
    fleet.wait_ready(t0, [](int ms) {
        std::this_thread::sleep_for(std::chrono::milliseconds(ms));
        throw_if_interrupted();
    });
    progress("ready after " + fmt("%.1f", double(mono_ns() - t0) / 1e9) + " s; letting them quiesce for " +
             fmt("%.0f", cfg.quiesce_s) + " s");
    const uint64_t q_end = mono_ns() + uint64_t(cfg.quiesce_s * 1e9);
    while (mono_ns() < q_end) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        throw_if_interrupted();
    }
    auto ref_of = [&](FleetMember& m) {
        GuestRef g;
        g.name = "ht-dedup-" + fc.id + "-" + std::to_string(getpid()) + "-" + std::to_string(m.index);
        g.kind = cfg.containers ? "container" : "vm";
        g.how = "booted by hypetrace";
        g.main_pid = m.guest->main_pid();
        g.pids = m.guest->pids();
        g.ram_bytes = cfg.containers ? 0 : uint64_t(m.memory_mb) << 20;
        return g;
    };
    b.guest = ref_of(*fleet.members()[0]);
    if (fleet.size() > 1) b.other = ref_of(*fleet.members()[1]);
    b.image_dir = fc.images.rootfs().string();
    return b;
}

}  // namespace ht
