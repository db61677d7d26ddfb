// SPDX-License-Identifier: MIT
#include "core/host/proc.h"

#include "core/base/text.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <unistd.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <cstdlib>
#include <limits>
#include <fstream>
#include <sstream>
#include <optional>
#include <set>
#include <functional>
#include <string_view>

namespace ht {

std::optional<std::string> read_text(const std::string& path) {
    // Straight into the string, sized once from the file's size where it has one (a 400 MB trace
    // file read through a stream grew by doubling, then was copied whole); /proc files, which say 0,
    // grow as they are read.
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return std::nullopt;
    std::string out;
    struct stat sb {};
    std::size_t want = 1 << 16;  // room past the size: the read that finds the end needs no growth
    if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > 0) want = std::size_t(sb.st_size) + 4096;
    for (;;) {
        if (out.size() == out.capacity()) out.reserve(std::max(want, out.capacity() * 2));
        const std::size_t at = out.size();
        out.resize(out.capacity());
        const ssize_t n = read(fd, out.data() + at, out.size() - at);
        if (n < 0 && errno == EINTR) {
            out.resize(at);
            continue;
        }
        out.resize(at + std::size_t(std::max<ssize_t>(n, 0)));
        if (n <= 0) break;  // end of file, or unreadable (a directory): what was read
    }
    close(fd);
    return out;
}

std::string read_tail(const std::string& path, std::size_t max_bytes) {
    std::string s = read_text(path).value_or("");
    return s.size() > max_bytes ? s.substr(s.size() - max_bytes) : s;
}

CpuInfo parse_cpuinfo(const std::string& text) {
    CpuInfo info;
    std::istringstream in(text);
    std::string line;
    bool first_flags_seen = false;
    while (std::getline(in, line)) {
        auto colon = line.find(':');
        if (colon == std::string::npos) continue;
        std::string key = trim(line.substr(0, colon));
        std::string val = trim(line.substr(colon + 1));
        if (key == "processor") {
            ++info.processors;
        } else if (key == "model name" && info.model.empty()) {
            info.model = val;
        } else if (key == "flags" && !first_flags_seen) {
            first_flags_seen = true;
            std::istringstream fs(val);
            std::string f;
            while (fs >> f) info.flags.insert(f);
        }
    }
    return info;
}

std::optional<ProcStat> parse_proc_stat(const std::string& text) {
    // "pid (comm) state ppid ..." where comm may hold anything but is closed by the LAST ')'.
    auto open = text.find('(');
    auto close = text.rfind(')');
    if (open == std::string::npos || close == std::string::npos || close < open) return std::nullopt;
    ProcStat st;
    char* end = nullptr;
    long pid = std::strtol(text.c_str(), &end, 10);
    if (end == text.c_str()) return std::nullopt;
    st.pid = pid_t(pid);
    st.comm = text.substr(open + 1, close - open - 1);
    std::istringstream rest(text.substr(close + 1));
    std::vector<std::string> f;
    std::string tok;
    while (rest >> tok) f.push_back(tok);
    // f[0] = state (field 3), f[1] = ppid (4), f[7] = minflt (10), f[9] = majflt (12),
    // f[11] = utime (14), f[12] = stime (15), f[19] = starttime (22)
    if (f.size() < 20 || f[0].size() != 1) return std::nullopt;
    try {
        st.state = f[0][0];
        st.ppid = pid_t(std::stol(f[1]));
        st.minflt = std::stoull(f[7]);
        st.majflt = std::stoull(f[9]);
        st.utime_ticks = std::stoull(f[11]);
        st.stime_ticks = std::stoull(f[12]);
        st.starttime_ticks = std::stoull(f[19]);
    } catch (const std::exception&) {
        return std::nullopt;
    }
    return st;
}

uint64_t parse_meminfo_kb(const std::string& text, const std::string& key) {
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        auto colon = line.find(':');
        if (colon == std::string::npos || line.substr(0, colon) != key) continue;
        return std::strtoull(line.c_str() + colon + 1, nullptr, 10);
    }
    return 0;
}

std::optional<CpuTicks> parse_cpu_ticks(const std::string& proc_stat, int cpu) {
    const std::string want = "cpu" + std::to_string(cpu);
    std::istringstream in(proc_stat);
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream l(line);
        std::string name;
        if (!(l >> name) || name != want) continue;
        std::vector<uint64_t> v;
        for (uint64_t x; l >> x;) v.push_back(x);
        if (v.size() < 8) return std::nullopt;
        CpuTicks t;
        // guest and guest_nice (fields 9-10) are already counted in user and nice
        for (std::size_t i = 0; i < 8; ++i) t.total += v[i];
        t.steal = v[7];
        return t;
    }
    return std::nullopt;
}

std::map<std::string, uint64_t> parse_proc_io(const std::string& text) {
    std::map<std::string, uint64_t> m;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        auto colon = line.find(": ");
        if (colon == std::string::npos || colon == 0) continue;
        const char* v = line.c_str() + colon + 2;
        if (*v < '0' || *v > '9') continue;  // strtoull would skip spaces and negate " -5"
        char* end = nullptr;
        errno = 0;
        const unsigned long long n = std::strtoull(v, &end, 10);
        if (errno == ERANGE || *end != '\0') continue;
        m[line.substr(0, colon)] = n;
    }
    return m;
}

std::map<std::string, uint64_t> read_proc_io(pid_t pid) {
    return parse_proc_io(read_text("/proc/" + std::to_string(pid) + "/io").value_or(""));
}

std::vector<int> parse_cpu_list(const std::string& text) {
    constexpr long kMaxCpus = 8192;
    std::vector<int> cpus;
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t comma = text.find(',', pos);
        std::string part = text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
        pos = comma == std::string::npos ? text.size() : comma + 1;
        char* end = nullptr;
        const long a = std::strtol(part.c_str(), &end, 10);
        if (end == part.c_str() || a < 0 || a >= kMaxCpus) continue;
        long b = a;
        if (*end == '-') {
            const char* from = end + 1;
            b = std::strtol(from, &end, 10);
            if (end == from || b < a || b >= kMaxCpus) continue;
        }
        for (long c = a; c <= b; ++c) cpus.push_back(int(c));
    }
    return cpus;
}

std::vector<pid_t> parse_pid_list(const std::string& text) {
    std::vector<pid_t> pids;
    std::istringstream in(text);
    long p;
    while (in >> p)
        if (p > 0 && p <= std::numeric_limits<pid_t>::max()) pids.push_back(pid_t(p));  // 4294967297 is not pid 1
    return pids;
}

std::vector<MountEntry> parse_mountinfo(const std::string& mountinfo) {
    // "36 25 0:31 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw" (optional fields before " - ")
    std::vector<MountEntry> out;
    std::istringstream mi(mountinfo);
    std::string line;
    while (std::getline(mi, line)) {
        auto dash = line.find(" - ");
        if (dash == std::string::npos) continue;
        std::istringstream a(line.substr(0, dash)), b(line.substr(dash + 3));
        std::string id, parent, dev, source;
        MountEntry e;
        if (!(a >> id >> parent >> dev >> e.root >> e.point) || !(b >> e.fstype >> source >> e.super)) continue;
        out.push_back(std::move(e));
    }
    return out;
}

namespace {

struct CgroupMount {
    std::string root, point;
    std::set<std::string> controllers;  // v1 hierarchies only (super options: "rw,memory", "name=systemd")
};
struct CgroupMounts {
    std::optional<CgroupMount> v2;
    std::vector<CgroupMount> v1;
};

CgroupMounts parse_cgroup_mounts(const std::string& mountinfo) {
    CgroupMounts out;
    for (const MountEntry& e : parse_mountinfo(mountinfo)) {
        if (e.fstype == "cgroup2") {
            if (!out.v2) out.v2 = CgroupMount{e.root, e.point, {}};
        } else if (e.fstype == "cgroup") {
            CgroupMount m{e.root, e.point, {}};
            std::istringstream opts(e.super);
            std::string o;
            while (std::getline(opts, o, ',')) m.controllers.insert(o);
            out.v1.push_back(std::move(m));
        }
    }
    return out;
}

std::string join_cgroup(const CgroupMount& m, std::string path) {
    if (m.root != "/" && path.rfind(m.root, 0) == 0) path = path.substr(m.root.size());
    return m.point + path;
}

// Each line of /proc/PID/cgroup: (is the v2 line, its controllers, its path).
template <typename Fn>
void for_each_cgroup_line(const std::string& proc_cgroup, Fn fn) {
    std::istringstream pc(proc_cgroup);
    std::string line;
    while (std::getline(pc, line)) {
        // "0::/lxc.payload.c/init.scope" (v2) or "7:memory:/lxc.payload.c" (v1)
        auto c1 = line.find(':');
        auto c2 = c1 == std::string::npos ? c1 : line.find(':', c1 + 1);
        if (c2 == std::string::npos) continue;
        const std::string ctrls = line.substr(c1 + 1, c2 - c1 - 1);
        fn(line.compare(0, c1, "0") == 0 && ctrls.empty(), ctrls, line.substr(c2 + 1));
    }
}

}  // namespace

std::string cgroup_dir_under(const std::string& proc_cgroup, const std::string& mountinfo, const std::string& prefix) {
    const CgroupMounts mounts = parse_cgroup_mounts(mountinfo);
    auto cut = [&](const std::string& path) -> std::string {  // "/a/lxc.payload.c/init.scope" -> "/a/lxc.payload.c"
        std::size_t pos = 0;
        while (pos < path.size()) {
            auto next = path.find('/', pos + 1);
            std::string comp = path.substr(pos + 1, next == std::string::npos ? std::string::npos : next - pos - 1);
            if (comp.rfind(prefix, 0) == 0) return path.substr(0, next);
            if (next == std::string::npos) break;
            pos = next;
        }
        return {};
    };
    bool v1_has_controllers = false;
    for (const auto& m : mounts.v1)
        if (m.controllers.count("pids") || m.controllers.count("memory")) v1_has_controllers = true;
    std::string unified, v1_pick;
    const CgroupMount* v1_mount = nullptr;
    for_each_cgroup_line(proc_cgroup, [&](bool v2, const std::string& ctrls, const std::string& full) {
        const std::string path = cut(full);
        if (path.empty()) return;
        if (v2) {
            unified = path;
            return;
        }
        std::istringstream cs(ctrls);
        std::string c;
        while (std::getline(cs, c, ','))
            if ((c == "pids" || c == "memory") && !v1_mount)
                for (const auto& m : mounts.v1)
                    if (m.controllers.count(c)) {
                        v1_mount = &m;
                        v1_pick = path;
                    }
    });
    if (v1_has_controllers && v1_mount) return join_cgroup(*v1_mount, v1_pick);
    if (mounts.v2 && !unified.empty()) return join_cgroup(*mounts.v2, unified);
    return {};
}

std::vector<std::string> cgroup_dirs(const std::string& proc_cgroup, const std::string& mountinfo) {
    const CgroupMounts mounts = parse_cgroup_mounts(mountinfo);
    std::vector<std::string> out;
    for_each_cgroup_line(proc_cgroup, [&](bool v2, const std::string& ctrls, const std::string& path) {
        if (path.empty() || path[0] != '/' || path.find("/..") != std::string::npos) return;
        if (v2) {
            if (mounts.v2) out.push_back(join_cgroup(*mounts.v2, path));
            return;
        }
        std::set<std::string> want;
        std::istringstream cs(ctrls);
        for (std::string c; std::getline(cs, c, ',');) want.insert(c);
        if (want.empty()) return;
        for (const auto& m : mounts.v1)
            if (std::includes(m.controllers.begin(), m.controllers.end(), want.begin(), want.end())) {
                out.push_back(join_cgroup(m, path));
                break;
            }
    });
    return out;
}

std::vector<pid_t> all_pids() {
    std::vector<pid_t> out;
    if (DIR* d = opendir("/proc")) {
        while (dirent* e = readdir(d)) {
            char* end = nullptr;
            long v = strtol(e->d_name, &end, 10);
            if (end && *end == 0 && v > 0) out.push_back(pid_t(v));
        }
        closedir(d);
    }
    return out;
}

std::vector<std::string> cgroup_mount_points(const std::string& mountinfo) {
    const CgroupMounts m = parse_cgroup_mounts(mountinfo);
    std::vector<std::string> out;
    for (const auto& v1 : m.v1) out.push_back(v1.point);
    if (m.v2) out.push_back(m.v2->point);
    return out;
}

namespace {
// Live processes one of whose NUL-separated fields of /proc/PID/FILE `match` takes, except this
// process and its ancestors.
std::vector<pid_t> pids_with_field(const char* file, const std::function<bool(std::string_view)>& match) {
    std::vector<pid_t> out;
    std::set<pid_t> ancestors;
    for (pid_t p = getpid(); p > 1 && ancestors.insert(p).second;) {
        auto st = parse_proc_stat(read_text("/proc/" + std::to_string(p) + "/stat").value_or(""));
        p = st ? st->ppid : 0;
    }
    for (pid_t pid : all_pids()) {
        if (ancestors.count(pid)) continue;
        const std::string text = read_text("/proc/" + std::to_string(pid) + "/" + file).value_or("");
        for (std::size_t at = 0; at < text.size();) {
            const auto end = std::min(text.find('\0', at), text.size());
            if (match(std::string_view(text).substr(at, end - at))) {
                if (process_alive(pid)) out.push_back(pid);
                break;
            }
            at = end + 1;
        }
    }
    return out;
}
}  // namespace

std::vector<pid_t> pids_with_env(const std::string& name, const std::string& value) {
    const std::string want = name + "=" + value;
    return pids_with_field("environ", [&](std::string_view f) { return f == want; });
}

std::vector<pid_t> pids_with_arg_prefix(const std::string& prefix) {
    if (prefix.empty()) return {};  // every process: never what a caller that kills them means
    return pids_with_field("cmdline", [&](std::string_view f) { return f.substr(0, prefix.size()) == prefix; });
}

std::string process_comm(pid_t pid) {
    std::string c = read_text("/proc/" + std::to_string(pid) + "/comm").value_or("");
    while (!c.empty() && c.back() == '\n') c.pop_back();
    return c;
}

pid_t pid_max() {
    auto t = read_text("/proc/sys/kernel/pid_max");
    long v = t ? std::strtol(t->c_str(), nullptr, 10) : 0;
    return v > 1 && v <= 4194304 ? pid_t(v) : pid_t(4194304);
}

std::optional<pid_t> parse_pid(const std::string& s, pid_t max) {
    if (s.empty() || s.size() > 10) return std::nullopt;
    uint64_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + uint64_t(c - '0');
    }
    if (v < 1 || v >= uint64_t(max)) return std::nullopt;
    return pid_t(v);
}

std::string not_a_pid(const std::string& s, pid_t max) {
    return "'" + visible(s) + "' is not a pid: pids on this host run from 1 to " + std::to_string(max - 1);
}

bool process_alive(pid_t pid) {
    auto text = read_text("/proc/" + std::to_string(pid) + "/stat");
    if (!text) return false;
    auto st = parse_proc_stat(*text);
    return st && st->state != 'Z' && st->state != 'X';
}

std::vector<MapRange> parse_maps(const std::string& text) {
    std::vector<MapRange> out;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        MapRange m;
        char perms[8] = {};
        unsigned long long start = 0, end = 0, offset = 0, inode = 0;
        unsigned dmaj = 0, dmin = 0;
        int consumed = 0;
        if (sscanf(line.c_str(), "%llx-%llx %7s %llx %x:%x %llu %n", &start, &end, perms, &offset, &dmaj, &dmin, &inode,
                   &consumed) < 7 ||
            end < start)  // not a range: the scanner walks start..end page by page
            continue;
        m.dev_major = dmaj;
        m.dev_minor = dmin;
        m.start = start;
        m.end = end;
        m.perms = perms;
        m.offset = offset;
        m.inode = inode;
        if (consumed > 0 && std::size_t(consumed) <= line.size()) m.path = line.substr(std::size_t(consumed));
        while (!m.path.empty() && m.path.back() == ' ') m.path.pop_back();
        out.push_back(std::move(m));
    }
    return out;
}

}  // namespace ht
