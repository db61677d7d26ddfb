// SPDX-License-Identifier: MIT
// Readers of /proc and /sys text. Parsers take the text (unit-testable without a live system);
// read_* helpers fetch it.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <sys/types.h>
#include <vector>

namespace ht {

// Whole file as text; std::nullopt if it cannot be opened.
std::optional<std::string> read_text(const std::string& path);
// The last `max_bytes` of a file ("" if it cannot be read), for error messages.
std::string read_tail(const std::string& path, std::size_t max_bytes);

struct CpuInfo {
    std::string model;         // first "model name"
    unsigned processors = 0;   // number of "processor" entries
    std::set<std::string> flags;  // of the first processor
};
CpuInfo parse_cpuinfo(const std::string& text);

struct ProcStat {
    pid_t pid = 0;
    std::string comm;  // without the parentheses; may contain spaces and ')'
    char state = '?';
    pid_t ppid = 0;
    uint64_t minflt = 0, majflt = 0;
    uint64_t utime_ticks = 0, stime_ticks = 0;
    uint64_t starttime_ticks = 0;
};
// Parses /proc/PID/stat; std::nullopt on malformed text.
std::optional<ProcStat> parse_proc_stat(const std::string& text);

// MemTotal in kB from /proc/meminfo text, 0 if absent.
uint64_t parse_meminfo_kb(const std::string& text, const std::string& key);

// One CPU's times from /proc/stat text ("cpuN user nice system idle iowait irq softirq steal ..."),
// in USER_HZ ticks: its total and its steal (time the hypervisor ran something else while this
// CPU had work). nullopt when the line is absent or too short to carry steal (kernels before 2.6.11).
struct CpuTicks {
    uint64_t total = 0, steal = 0;
};
std::optional<CpuTicks> parse_cpu_ticks(const std::string& proc_stat, int cpu);

// /proc/PID/io ("rchar: 123" per line) by field name; lines that are not "name: number" are skipped.
std::map<std::string, uint64_t> parse_proc_io(const std::string& text);
// A live process's /proc/PID/io, parsed (empty when it cannot be read: the process is gone).
std::map<std::string, uint64_t> read_proc_io(pid_t pid);

// "0-3,5" (the format of /sys/devices/system/cpu/online) -> {0, 1, 2, 3, 5}; parts that are not
// CPU numbers (0 to 8191, the kernel's largest NR_CPUS) or ranges of them are skipped.
std::vector<int> parse_cpu_list(const std::string& text);

// Pids listed one per line (cgroup.procs, tasks).
std::vector<pid_t> parse_pid_list(const std::string& text);

// The directory of the cgroup a process sits under whose path has a component starting with
// `prefix` (e.g. "lxc.payload."), cut after that component: "/sys/fs/cgroup/lxc.payload.c1" for
// init in /lxc.payload.c1/init.scope. From /proc/PID/cgroup and /proc/self/mountinfo text: the
// unified hierarchy where cgroup2 is mounted and no v1 hierarchy has controllers (stock Debian 12,
// Ubuntu 22.04+, Fedora), else the v1 pids or memory hierarchy (hybrid). "" if none matches.
std::string cgroup_dir_under(const std::string& proc_cgroup, const std::string& mountinfo, const std::string& prefix);

// The directory of every cgroup a process sits in, one per hierarchy (v1 hierarchies and the v2
// one), from /proc/PID/cgroup and /proc/self/mountinfo text: where to move it back to.
std::vector<std::string> cgroup_dirs(const std::string& proc_cgroup, const std::string& mountinfo);

// The kernel's largest pid + 1 (/proc/sys/kernel/pid_max; 4194304, the most it can be, if unreadable).
pid_t pid_max();

// `s` as a pid: decimal digits only, 1 to pid_max() - 1; nullopt otherwise ("4294967297" is not
// pid 1, "99999999999999999999" is no pid at all).
std::optional<pid_t> parse_pid(const std::string& s, pid_t max);
// The one line saying `s` is no pid of this host (for --pid and a guest given by pid).
std::string not_a_pid(const std::string& s, pid_t max);

// Every pid under /proc now (processes come and go meanwhile).
std::vector<pid_t> all_pids();

// One line of /proc/PID/mountinfo ("36 25 0:31 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw",
// optional fields before " - "): the mount's root, its mount point, type and super options.
struct MountEntry {
    std::string root, point, fstype, super;
};
// Every well-formed line of mountinfo text, in order.
std::vector<MountEntry> parse_mountinfo(const std::string& mountinfo);

// The mount points of every cgroup hierarchy (v1 and v2), from /proc/self/mountinfo text.
std::vector<std::string> cgroup_mount_points(const std::string& mountinfo);

// Live processes whose environment holds NAME=VALUE (read as root from /proc/PID/environ), except
// this process and its ancestors.
std::vector<pid_t> pids_with_env(const std::string& name, const std::string& value);
// Live processes one of whose arguments begins with PREFIX (/proc/PID/cmdline), except this
// process and its ancestors.
std::vector<pid_t> pids_with_arg_prefix(const std::string& prefix);

// The process's name (/proc/PID/comm without its newline); "" if it is gone.
std::string process_comm(pid_t pid);

// True if /proc/PID exists and is not a zombie.
bool process_alive(pid_t pid);

// One line of /proc/PID/maps.
struct MapRange {
    uint64_t start = 0, end = 0;
    std::string perms;  // "rw-p"
    uint64_t offset = 0;
    unsigned dev_major = 0, dev_minor = 0;
    uint64_t inode = 0;
    std::string path;   // "" for anonymous memory; "[heap]", "[stack]", a file path ...
    bool anonymous() const { return inode == 0; }
    bool readable() const { return !perms.empty() && perms[0] == 'r'; }
};
std::vector<MapRange> parse_maps(const std::string& text);

}  // namespace ht
