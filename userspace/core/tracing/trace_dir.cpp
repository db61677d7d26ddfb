// SPDX-License-Identifier: MIT
#include "core/tracing/trace_dir.h"
#include "core/base/setting.h"

#include "core/base/error.h"
#include "core/host/files.h"
#include "core/base/json_text.h"
#include "core/host/proc.h"
#include "core/base/text.h"

#include <unistd.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <cerrno>

#include <algorithm>
#include <atomic>
#include <system_error>
#include <thread>
#include <functional>
#include <optional>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;

namespace ht {

namespace {

const std::pair<CounterKind, const char*> kKinds[] = {
    {CounterKind::fault_user, "fault_user"},         {CounterKind::fault_kernel, "fault_kernel"},
    {CounterKind::exec, "exec"},                     {CounterKind::fork, "fork"},
    {CounterKind::exit, "exit"},                     {CounterKind::kvm_exit, "kvm_exit"},
    {CounterKind::kvm_exit_ns, "kvm_exit_ns"},       {CounterKind::kvm_user_exit, "kvm_user_exit"},
    {CounterKind::kvm_pio, "kvm_pio"},               {CounterKind::kvm_mmio, "kvm_mmio"},
    {CounterKind::kvm_run, "kvm_run"},               {CounterKind::kvm_run_ns, "kvm_run_ns"},
    {CounterKind::kvm_run_log2, "kvm_run_log2"},     {CounterKind::ksm_merge, "ksm_merge"},
    {CounterKind::kvm_run_entry_ns, "kvm_run_entry_ns"}, {CounterKind::kvm_run_min_ns, "kvm_run_min_ns"},
    {CounterKind::kvm_run_max_ns, "kvm_run_max_ns"},     {CounterKind::sched_runq_ns, "sched_runq_ns"},
    {CounterKind::sched_runq_log2, "sched_runq_log2"}, {CounterKind::sched_oncpu_ns, "sched_oncpu_ns"},
    {CounterKind::sched_preempted, "sched_preempted"}, {CounterKind::sched_switch_vol, "sched_switch_vol"},
    {CounterKind::sched_migrate, "sched_migrate"},
};

const std::pair<EventType, const char*> kEvents[] = {
    {EventType::exec, "exec"},          {EventType::fork, "fork"},     {EventType::exit, "exit"},
    {EventType::kvm_run_first, "kvm_run_first"}, {EventType::rename, "rename"}, {EventType::ksm_scan, "ksm_scan"},
    {EventType::phase, "phase"},
};

// Tabs and newlines would break a line; ';' separates frames.
std::string clean(std::string s, bool frame = false) {
    for (char& c : s)
        if (c == '\t' || c == '\n' || c == '\r' || (frame && c == ';')) c = frame && c == ';' ? ':' : ' ';
    return s;
}

// A line with too few fields: which one (counted from the text's first line) and what it had.
struct RowError {
    std::size_t line, fields;
};

// One line of a file's text, split at tabs, a comment line (#) skipped; `fn` gets the fields.
template <typename Fn>
void parse_row(std::string_view line, std::size_t lineno, std::size_t min_fields, std::vector<std::string_view>& f,
               Fn& fn) {
    if (line.empty() || line[0] == '#') return;
    split_into(line, '\t', f);
    if (f.size() < min_fields) throw RowError{lineno, f.size()};
    fn(f);
}

// Every line of a text (RowError's line counted from 1 there).
template <typename Fn>
void for_each_line(std::string_view all, std::size_t min_fields, Fn fn) {
    std::vector<std::string_view> f;
    std::size_t pos = 0, lineno = 0;
    while (pos < all.size()) {
        std::size_t nl = all.find('\n', pos);
        if (nl == std::string_view::npos) nl = all.size();
        parse_row(all.substr(pos, nl - pos), ++lineno, min_fields, f, fn);
        pos = nl + 1;
    }
}

std::string row_error_text(const std::string& path, std::size_t line, std::size_t fields, std::size_t min_fields) {
    return path + " line " + std::to_string(line) + ": " + std::to_string(fields) + " fields, " +
           std::to_string(min_fields) + " expected";
}

// Every line of a file's text; `path` names it in messages.
template <typename Fn>
void for_each_row(std::string_view text, const std::string& path, std::size_t min_fields, Fn fn) {
    try {
        for_each_line(text, min_fields, fn);
    } catch (const RowError& e) {
        throw UserError(row_error_text(path, e.line, e.fields, min_fields));
    }
}

// trace.json's fields, read whatever the file holds: a member of the wrong type reads as absent.
const nlohmann::json& member(const nlohmann::json& o, const char* key) {
    static const nlohmann::json null;
    if (!o.is_object()) return null;
    auto it = o.find(key);
    return it == o.end() ? null : *it;
}
uint64_t u64(const nlohmann::json& o, const char* key) {
    const auto& v = member(o, key);
    return v.is_number_unsigned() ? v.get<uint64_t>() : 0;
}
uint32_t u32(const nlohmann::json& o, const char* key) {
    const uint64_t v = u64(o, key);
    return v > UINT32_MAX ? 0 : uint32_t(v);
}
std::string str(const nlohmann::json& o, const char* key) {
    const auto& v = member(o, key);
    return v.is_string() ? v.get<std::string>() : "";
}
const nlohmann::json& array(const nlohmann::json& o, const char* key) {
    static const nlohmann::json empty = nlohmann::json::array();
    const auto& v = member(o, key);
    return v.is_array() ? v : empty;
}

uint64_t num(std::string_view s) {
    uint64_t v = 0;
    std::from_chars(s.data(), s.data() + s.size(), v);
    return v;
}

}  // namespace

const char* counter_kind_name(CounterKind k) {
    for (const auto& [kind, name] : kKinds)
        if (kind == k) return name;
    return "unknown";
}

const char* event_type_name(EventType t) {
    for (const auto& [type, name] : kEvents)
        if (type == t) return name;
    return "unknown";
}

std::map<uint32_t, uint32_t> TraceData::guest_of_process() const {
    std::map<uint32_t, uint32_t> m;
    for (const auto& e : events) {
        if (!e.guest) continue;
        if (e.type == EventType::fork) m[e.aux] = e.guest;  // aux: the child's tgid
        if (e.type == EventType::exec || e.type == EventType::kvm_run_first) m[e.tgid] = e.guest;
    }
    return m;
}

void check_trace_dir(const std::string& dir) {
    std::error_code ec;
    if (fs::exists(dir, ec)) {
        if (!fs::is_directory(dir, ec)) throw usage_error(ref(Setting::trace) + " " + dir + ": exists and is not a directory");
        if (!fs::is_empty(dir, ec))
            throw usage_error(ref(Setting::trace) + " " + dir + ": exists and is not empty; give a new directory (nothing is overwritten)");
    }
    fs::path parent = fs::absolute(dir).parent_path();
    if (!fs::is_directory(parent, ec)) throw usage_error(ref(Setting::trace) + " " + dir + ": " + parent.string() + " does not exist");
    if (access(parent.c_str(), W_OK) != 0) throw usage_error(ref(Setting::trace) + " " + dir + ": " + parent.string() + " is not writable");
}

void write_trace_dir(const std::string& dir, const TraceData& t) {
    check_trace_dir(dir);
    const fs::path final_dir = fs::absolute(dir);
    const fs::path tmp = final_dir.string() + ".partial-" + std::to_string(getpid());
    std::error_code ec;
    fs::remove_all(tmp, ec);
    // Where the partial directory is, kept where `hypetrace cleanup` looks: a run killed while it
    // writes leaves neither DIR nor, once cleaned up, DIR.partial-PID.
    // Best effort: without root (unit tests) there is no note, and nothing to clean up for.
    std::optional<ScratchDir> note;
    try {
        note.emplace(kTracePartialParent, "trace-" + std::to_string(getpid()));
        write_file_atomic(note->path() / kTracePartialFile, tmp.string());
    } catch (const std::exception&) {
    }
    try {
        fs::create_directories(tmp);
        auto open = [&](const char* name, const char* header) {
            std::ofstream o(tmp / name);
            if (!o) throw UserError("cannot write " + (tmp / name).string());
            o << "# hypetrace trace " << kTraceFormatVersion << ": " << header << "\n";
            return o;
        };
        // Every stream closed and checked (a full disk fails the close's flush, not the writes
        // before it), then on disk before the directory is renamed into place: a trace directory
        // is complete or absent.
        auto done = [&](std::ofstream& o, const char* name) {
            o.close();
            if (o.fail()) throw UserError("cannot write " + std::string(name) + " in " + tmp.string() + " (disk full?)");
            fsync_path(tmp / name);
        };
        {
            auto o = open("samples.tsv",
                          "bucket_start_ns tgid pid comm ustack kstack count exit (stacks in stacks.tsv)");
            for (const auto& s : t.profile.samples)
                o << s.bucket_start_ns << '\t' << s.tgid << '\t' << s.pid << '\t' << clean(comm_of(t.profile, s)) << '\t' << s.ustack
                  << '\t' << s.kstack << '\t' << s.count << '\t' << s.handling << '\n';
            done(o, "samples.tsv");
        }
        {
            auto o = open("stacks.tsv", "id frames (root first, ';' between)");
            for (std::size_t id = 1; id < t.profile.stacks.size(); ++id) {
                o << id << '\t';
                const auto& f = t.profile.stacks[id];
                for (std::size_t i = 0; i < f.size(); ++i) o << (i ? ";" : "") << clean(f[i], true);
                o << '\n';
            }
            done(o, "stacks.tsv");
        }
        {
            auto o = open("events.tsv", "ts_ns type guest pid tgid ppid aux comm path");
            for (const auto& e : t.events)
                o << e.ts_ns << '\t' << event_type_name(e.type) << '\t' << e.guest << '\t' << e.pid << '\t' << e.tgid
                  << '\t' << e.ppid << '\t' << e.aux << '\t' << clean(e.comm) << '\t' << clean(e.path) << '\n';
            done(o, "events.tsv");
        }
        {
            auto o = open("counters.tsv", "guest start_ns width_ns kind sub phase value");
            for (const auto& c : t.counters)
                o << c.guest << '\t' << c.start_ns << '\t' << c.width_ns << '\t' << counter_kind_name(c.kind) << '\t'
                  << c.sub << '\t' << c.phase << '\t' << c.value << '\n';
            done(o, "counters.tsv");
        }
        {
            auto o = open("ksm.tsv", "ts_ns seq rmap_items merges errors (one line per full KSM scan)");
            for (const auto& k : t.ksm_scans)
                o << k.ts_ns << '\t' << k.seq << '\t' << k.rmap_items << '\t' << k.merges << '\t' << k.errors << '\n';
            done(o, "ksm.tsv");
        }
        nlohmann::json j = t.meta;
        j["format"] = "hypetrace-trace";
        j["version"] = kTraceFormatVersion;
        j["clock"] = "CLOCK_MONOTONIC, ns";
        nlohmann::json guests = nlohmann::json::array();
        for (const auto& [id, name] : t.guests) guests.push_back({{"id", id}, {"name", name}});
        j["guests"] = guests;
        nlohmann::json spans = nlohmann::json::array();
        for (const auto& s : t.spans)
            spans.push_back({{"track", s.track}, {"name", s.name}, {"start_ns", s.start_ns}, {"end_ns", s.end_ns}});
        j["spans"] = spans;
        const Profile& p = t.profile;
        j["profile"] = {{"sampled", t.sampled},       {"freq_hz", p.freq_hz},
                        {"cpus", p.cpus},             {"start_ns", p.start_ns},
                        {"end_ns", p.end_ns},         {"bucket_ns", p.bucket_ns},
                        {"idle_samples", p.idle_samples}, {"lost_samples", p.lost_samples},
                        {"lost_stacks", p.lost_stacks}, {"user_frames", p.user_frames},
                        {"user_frames_named", p.user_frames_named}};
        j["files"] = {{"samples", "samples.tsv"}, {"stacks", "stacks.tsv"}, {"events", "events.tsv"},
                      {"counters", "counters.tsv"}, {"ksm", "ksm.tsv"}};
        write_file_atomic(tmp / "trace.json", dump_json(j, 2) + "\n");
        fsync_path(tmp);
        if (fs::exists(final_dir, ec)) fs::remove(final_dir);  // empty (checked)
        fs::rename(tmp, final_dir);
        fsync_path(final_dir.parent_path());
    } catch (const fs::filesystem_error& e) {
        fs::remove_all(tmp, ec);
        throw UserError("cannot write the trace directory " + dir + ": " + e.code().message());
    } catch (...) {
        fs::remove_all(tmp, ec);
        throw;
    }
}

namespace {

// trace.json: a hypetrace trace of a format this hypetrace reads, or UserError.
nlohmann::json parse_trace_meta(const std::string& text, const std::string& dir) {
    nlohmann::json meta = nlohmann::json::parse(text, nullptr, false);
    if (meta.is_discarded()) throw UserError(dir + "/trace.json is not valid JSON");
    if (str(meta, "format") != "hypetrace-trace") throw UserError(dir + "/trace.json is not a hypetrace trace");
    const auto& version = member(meta, "version");
    if (!version.is_number_integer() || version.get<int64_t>() < 1)
        throw UserError(dir + "/trace.json has no format version");
    if (version.get<int64_t>() > kTraceFormatVersion)
        throw UserError(dir + " is trace format " + std::to_string(version.get<int64_t>()) +
                        "; this hypetrace reads up to " + std::to_string(kTraceFormatVersion) + ": update hypetrace");
    return meta;
}

}  // namespace

namespace {

// samples.tsv's rows into p.samples (p.stacks already read): a row's thread name becomes an id
// into p.comms. Made with the file's size, it reserves room for every row once, on huge pages
// where the host allows them (THP "madvise"): hundreds of MB of samples would otherwise take a
// page fault per 4 KiB, dear under a hypervisor (13 us each on this project's test machines).
struct SampleRows {
    Profile& p;
    const std::string& dir;
    CommIndex comms;

    SampleRows(Profile& profile, const std::string& trace_dir, std::size_t bytes) : p(profile), dir(trace_dir) {
        constexpr std::size_t kMinRow = 24;  // bytes: the shortest real row is longer
        std::vector<StackSample>& v = p.samples;
        v.reserve(v.size() + bytes / kMinRow);
        const auto lo = (reinterpret_cast<uintptr_t>(v.data()) + (2u << 20) - 1) & ~uintptr_t((2u << 20) - 1);
        const auto hi = reinterpret_cast<uintptr_t>(v.data() + v.capacity()) & ~uintptr_t((2u << 20) - 1);
        if (hi > lo) madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_HUGEPAGE);
    }
    void operator()(const std::vector<std::string_view>& f) {
        StackSample s;
        s.bucket_start_ns = num(f[0]);
        s.tgid = uint32_t(num(f[1]));
        s.pid = uint32_t(num(f[2]));
        s.comm = comms.id(p, f[3]);
        s.ustack = uint32_t(num(f[4]));
        s.kstack = uint32_t(num(f[5]));
        s.count = num(f[6]);
        if (f.size() > 7) s.handling = num(f[7]);
        if (s.ustack >= p.stacks.size() || s.kstack >= p.stacks.size())
            throw UserError(dir + "/samples.tsv names a stack that stacks.tsv does not have");
        p.samples.push_back(s);
    }
};

// How many rows a samples file of `bytes` holds, from the mean length of its first 64 KiB's lines
// (read with pread: the file offset stays where it was).
std::size_t expected_rows(int fd, std::size_t bytes) {
    std::string head(std::min<std::size_t>(bytes, 64u << 10), '\0');
    const ssize_t n = pread(fd, head.data(), head.size(), 0);
    if (n <= 0) return 0;
    const auto lines = std::size_t(std::count(head.data(), head.data() + n, '\n'));
    return lines ? bytes / (std::size_t(n) / lines) + 1 : 0;
}

// Faults in the part of `v`'s capacity that `rows` more rows will fill (MADV_POPULATE_WRITE, Linux
// 5.14; older kernels: nothing), 16 MiB at a time, on a thread of its own; stopped and joined when
// it goes out of scope. The rows' writes then find their pages present. Only pages are touched,
// never their contents: a capacity that moved (the vector grew) is merely faulted in for nothing.
class Prefault {
public:
    template <typename T>
    Prefault(const std::vector<T>& v, std::size_t rows) {
        constexpr uintptr_t kPage = 4096;
        const auto from = (reinterpret_cast<uintptr_t>(v.data() + v.size()) + kPage - 1) & ~(kPage - 1);
        const auto to = reinterpret_cast<uintptr_t>(v.data() + std::min(v.capacity(), v.size() + rows)) & ~(kPage - 1);
        if (to <= from || to - from < (64u << 20)) return;  // not worth a thread
        try {
            worker_ = std::thread([this, from, to] {
                constexpr uintptr_t kChunk = 16u << 20;
                for (uintptr_t a = from; a < to && !stop_.load(std::memory_order_relaxed); a += kChunk)
                    if (madvise(reinterpret_cast<void*>(a), std::min(kChunk, to - a), MADV_POPULATE_WRITE) != 0)
                        break;
            });
        } catch (const std::system_error&) {  // no thread to spare: the rows fault their pages in themselves
        }
    }
    ~Prefault() {
        stop_ = true;
        if (worker_.joinable()) worker_.join();
    }
    Prefault(const Prefault&) = delete;
    Prefault& operator=(const Prefault&) = delete;

private:
    std::atomic<bool> stop_{false};
    std::thread worker_;
};

// Every line of the file open as `fd` (`path` names it), read 4 MiB at a time into one buffer
// (mapping the file instead took longer here); RowError's line counted from the file's first.
template <typename Fn>
void for_each_file_line(int fd, const std::string& path, std::size_t min_fields, Fn fn) {
    std::vector<std::string_view> f;
    std::string buf(4u << 20, '\0');
    std::size_t have = 0, lineno = 0;
    for (;;) {
        if (have == buf.size()) buf.resize(buf.size() * 2);  // a line longer than the buffer
        const ssize_t n = read(fd, buf.data() + have, buf.size() - have);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw UserError(errno_text("cannot read " + path, errno));
        have += std::size_t(n);
        const std::string_view all(buf.data(), have);
        std::size_t pos = 0;
        for (std::size_t nl; (nl = all.find('\n', pos)) != std::string_view::npos; pos = nl + 1)
            parse_row(all.substr(pos, nl - pos), ++lineno, min_fields, f, fn);
        if (n == 0) {
            if (pos < have) parse_row(all.substr(pos), ++lineno, min_fields, f, fn);  // no final newline
            return;
        }
        std::memmove(buf.data(), buf.data() + pos, have - pos);
        have -= pos;
    }
}

}  // namespace

TraceData read_trace_dir(const std::string& dir) {
    TraceTexts x;
    const fs::path d(dir);
    auto meta = read_text((d / "trace.json").string());
    if (!meta) throw UserError(dir + " is not a hypetrace trace directory (no trace.json): make one with " + ref(Setting::trace) + " DIR");
    x.meta = std::move(*meta);
    parse_trace_meta(x.meta, dir);  // a newer format is refused before its files are looked for
    const std::string samples = (d / "samples.tsv").string();
    for (auto [name, text] : {std::pair{"stacks.tsv", &x.stacks}, {"events.tsv", &x.events},
                              {"counters.tsv", &x.counters}, {"ksm.tsv", &x.ksm}}) {
        auto t = read_text((d / name).string());
        if (!t) throw UserError("cannot read " + (d / name).string() + ": not a complete hypetrace trace directory");
        *text = std::move(*t);
    }
    if (access(samples.c_str(), R_OK) != 0)
        throw UserError("cannot read " + samples + ": not a complete hypetrace trace directory");
    TraceData t = parse_trace_texts(x, dir);  // all but the samples, then those straight from the file
    // Streamed, never held whole: a trace's samples can be hundreds of MB, and fresh memory is
    // dear to touch where a hypervisor shadows the page tables.
    const int fd = open(samples.c_str(), O_RDONLY | O_CLOEXEC);
    struct stat sb {};
    if (fd < 0 || fstat(fd, &sb) != 0) {
        if (fd >= 0) close(fd);
        throw UserError("cannot read " + samples + ": not a complete hypetrace trace directory");
    }
    if (sb.st_size > 0) {
        SampleRows rows(t.profile, dir, std::size_t(sb.st_size));
        // The rows' memory, faulted in on another CPU while this one parses: the kernel zeroes
        // every fresh page, which took 0.9 s of 2 s for 10 M rows here (under a hypervisor).
        Prefault ahead(t.profile.samples, expected_rows(fd, std::size_t(sb.st_size)));
        try {
            for_each_file_line(fd, samples, 7, std::ref(rows));
        } catch (const RowError& e) {
            close(fd);
            throw UserError(row_error_text(samples, e.line, e.fields, 7));
        } catch (...) {
            close(fd);
            throw;
        }
    }
    close(fd);
    return t;
}

TraceData parse_trace_texts(const TraceTexts& x, const std::string& dir) {
    TraceData t;
    t.meta = parse_trace_meta(x.meta, dir);
    for (const auto& g : array(t.meta, "guests")) t.guests[u32(g, "id")] = str(g, "name");
    for (const auto& s : array(t.meta, "spans"))
        t.spans.push_back({str(s, "track"), str(s, "name"), u64(s, "start_ns"), u64(s, "end_ns")});
    const auto& pj = member(t.meta, "profile");
    t.sampled = member(pj, "sampled").is_boolean() && member(pj, "sampled").get<bool>();
    Profile& p = t.profile;
    p.freq_hz = u32(pj, "freq_hz");
    p.cpus = u32(pj, "cpus");
    p.start_ns = u64(pj, "start_ns");
    p.end_ns = u64(pj, "end_ns");
    p.bucket_ns = u64(pj, "bucket_ns");
    p.idle_samples = u64(pj, "idle_samples");
    p.lost_samples = u64(pj, "lost_samples");
    p.lost_stacks = u64(pj, "lost_stacks");
    const fs::path d(dir);
    std::vector<std::string_view> parts;
    // Stack ids are dense from 1 (write_trace_dir): one past the file's line count is no stack of it.
    const auto lines = uint64_t(std::count(x.stacks.begin(), x.stacks.end(), '\n')) + 1;
    for_each_row(x.stacks, (d / "stacks.tsv").string(), 2, [&](const std::vector<std::string_view>& f) {
        const uint64_t id = num(f[0]);
        if (id == 0 || id > lines) throw UserError(dir + "/stacks.tsv: bad stack id " + std::string(f[0].substr(0, 24)));
        if (p.stacks.size() <= id) p.stacks.resize(id + 1);
        split_into(f[1], ';', parts);
        p.stacks[id].assign(parts.begin(), parts.end());
    });
    // (parsed in parts side by side and appended after, they took longer here: the copy touched
    // as much fresh memory again, and fresh memory is what costs)
    for_each_row(x.samples, (d / "samples.tsv").string(), 7, SampleRows(p, dir, x.samples.size()));
    for_each_row(x.events, (d / "events.tsv").string(), 9, [&](const std::vector<std::string_view>& f) {
        ProcEvent e;
        e.ts_ns = num(f[0]);
        for (const auto& [type, name] : kEvents)
            if (f[1] == name) e.type = type;
        e.guest = uint32_t(num(f[2]));
        e.pid = uint32_t(num(f[3]));
        e.tgid = uint32_t(num(f[4]));
        e.ppid = uint32_t(num(f[5]));
        e.aux = uint32_t(num(f[6]));
        e.comm = std::string(f[7]);
        e.path = std::string(f[8]);
        t.events.push_back(std::move(e));
    });
    for_each_row(x.counters, (d / "counters.tsv").string(), 7, [&](const std::vector<std::string_view>& f) {
        TraceCounter c;
        c.guest = uint32_t(num(f[0]));
        c.start_ns = num(f[1]);
        c.width_ns = num(f[2]);
        for (const auto& [kind, name] : kKinds)
            if (f[3] == name) c.kind = kind;
        c.sub = num(f[4]);
        c.phase = uint32_t(num(f[5]));
        c.value = num(f[6]);
        t.counters.push_back(c);
    });
    for_each_row(x.ksm, (d / "ksm.tsv").string(), 5, [&](const std::vector<std::string_view>& f) {
        t.ksm_scans.push_back({num(f[0]), uint32_t(num(f[1])), uint32_t(num(f[2])), uint32_t(num(f[3])),
                               uint32_t(num(f[4]))});
    });
    return t;
}

void Recorder::run_ended(const RunTrace& run, const std::vector<KsmScan>& ksm_scans) {
    data_.events.insert(data_.events.end(), run.events.begin(), run.events.end());
    for (const auto& c : run.counters)
        data_.counters.push_back({c.guest, run.origin_ns + uint64_t(c.bucket) * run.bucket_ns, run.bucket_ns, c.kind,
                                  c.sub, c.phase, c.value});
    data_.ksm_scans.insert(data_.ksm_scans.end(), ksm_scans.begin(), ksm_scans.end());
}

void Recorder::span(const std::string& track, const std::string& name, uint64_t start_ns, uint64_t end_ns) {
    data_.spans.push_back({track, name, start_ns, end_ns});
}

void Recorder::name_guest(uint32_t guest, const std::string& name) { data_.guests[guest] = name; }

void Recorder::name_address(const std::string& key, const std::string& device) { data_.meta["devices"][key] = device; }

}  // namespace ht
