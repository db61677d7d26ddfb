// SPDX-License-Identifier: MIT
// Everything a hypetrace run may change on the host, in one snapshot, and the differences between
// two of them as text ("" when the host is as it was): KSM's settings, THP, the inotify limits,
// QEMU processes, LXC containers (their monitors and cgroups), libvirt domains, BPF programs and
// links, mounts of hypetrace's directories and of tracefs, and the scratch directories. The bad-input matrix and
// the fault-injection test both compare against it.
#pragma once
#include "common.h"
#include "core/host/files.h"
#include "core/host/host_settings.h"
#include "core/host/proc.h"

#include <bpf/bpf.h>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>

struct HostSnapshot {
    std::map<std::string, std::string> settings;  // KSM's sysfs files, THP, inotify limits
    std::set<std::string> processes;              // "qemu <pid> <cmdline>", "lxc-monitor <pid> ...", any in our dirs
    std::set<std::string> cgroups;                // liblxc's cgroups of hypetrace's containers
    std::set<std::string> domains;                // libvirt domains (qemu:///system), running or not
    std::set<std::string> bpf;                    // "prog <id> <name>", "link <id>"
    std::set<std::string> mounts;                 // mount points under hypetrace's directories
    std::set<std::string> tracefs;                // where tracefs is mounted (a tracer mounts it where it is not)
    std::set<std::string> scratch;                // entries of /var/tmp/hypetrace and /run/hypetrace
    std::set<std::string> dead_scratch;           // those of them a killed run left (its pid is gone)

    static HostSnapshot take() {
        namespace fs = std::filesystem;
        HostSnapshot s;
        for (const auto& [k, v] : ht::read_ksm_settings("/sys/kernel/mm/ksm")) s.settings["ksm/" + k] = v;
        for (const char* f : {"/sys/kernel/mm/transparent_hugepage/enabled", "/sys/kernel/mm/transparent_hugepage/defrag",
                              "/proc/sys/fs/inotify/max_user_instances", "/proc/sys/fs/inotify/max_user_watches"})
            s.settings[f] = ht::read_text(f).value_or("(unreadable)");
        for (pid_t p : pids_with("qemu-system")) s.processes.insert("qemu " + std::to_string(p) + " " + cmdline(p));
        for (pid_t p : pids_with("[lxc monitor]")) s.processes.insert("lxc-monitor " + std::to_string(p) + " " + cmdline(p));
        for (const char* dir : {"/var/tmp/hypetrace", "/run/hypetrace"})  // fio left by a native run, ...
            for (pid_t p : pids_using(dir)) s.processes.insert("working in " + std::string(dir) + ": " + std::to_string(p) + " " + cmdline(p));
        std::error_code ec;
        for (auto it = fs::recursive_directory_iterator("/sys/fs/cgroup", ec); !ec && it != fs::recursive_directory_iterator();
             it.increment(ec)) {
            const std::string n = it->path().filename().string();
            if (n.find(".ht-") != std::string::npos && it->is_directory(ec)) s.cgroups.insert(it->path().string());
        }
        // Without libvirt's client there is no libvirtd either (the nested lab), so no domain.
        if (!ht::which("virsh").empty()) {
            std::istringstream domains(output({"virsh", "-q", "-c", "qemu:///system", "list", "--all", "--name"}));
            for (std::string line; std::getline(domains, line);)
                if (!line.empty()) s.domains.insert(line);
        }
        // BPF programs and links from the kernel itself (the bpf syscall's id walk), not bpftool,
        // which the nested lab does not have.
        for (uint32_t id = 0; bpf_prog_get_next_id(id, &id) == 0;) {
            std::string name;
            if (int fd = bpf_prog_get_fd_by_id(id); fd >= 0) {
                bpf_prog_info info{};
                uint32_t len = sizeof info;
                if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0) name = info.name;
                close(fd);
            }
            s.bpf.insert("prog " + std::to_string(id) + " " + name);
        }
        for (uint32_t id = 0; bpf_link_get_next_id(id, &id) == 0;) s.bpf.insert("link " + std::to_string(id));
        const std::string mountinfo = ht::read_text("/proc/self/mountinfo").value_or("");
        std::istringstream mi(mountinfo);
        for (std::string line; std::getline(mi, line);)
            if (line.find("hypetrace") != std::string::npos) s.mounts.insert(line.substr(0, line.find(" - ")));
        // tracefs by mount point, as a remount makes a new id
        for (const ht::MountEntry& m : ht::parse_mountinfo(mountinfo))
            if (m.fstype == "tracefs") s.tracefs.insert(m.point);
        for (const char* parent : {"/var/tmp/hypetrace", "/run/hypetrace"})
            for (const auto& e : fs::directory_iterator(parent, ec))
                // settings.lock stays once made: the KSM owner's lock file, empty of meaning between runs
                if (e.path().filename() != "settings.lock") {
                    s.scratch.insert(e.path().string());
                    if (auto owner = ht::scratch_dir_owner(e.path()); owner && !ht::process_alive(*owner))
                        s.dead_scratch.insert(e.path().string());
                }
        return s;
    }

    // What changed from `before` to this snapshot, a line per difference; "" if nothing did.
    std::string changes_since(const HostSnapshot& before) const {
        std::string out;
        for (const auto& [k, v] : before.settings) {
            auto it = settings.find(k);
            const std::string now = it == settings.end() ? "(gone)" : it->second;
            if (now != v) out += "setting " + k + ": " + trimmed(v) + " -> " + trimmed(now) + "\n";
        }
        for (const auto& [k, v] : settings)
            if (!before.settings.count(k)) out += "setting " + k + " appeared: " + trimmed(v) + "\n";
        // What is new: a run leaves things; what went (another VM on the host stopping, a BPF
        // program of the system unloaded) is not a run's doing, except among hypetrace's own
        // scratch directories.
        // A killed run's scratch (left before `before`, by an earlier test or an interrupted run) is
        // removed by the next run's cleanup: that going is hypetrace's job, not a change it made.
        auto sets = [&](const char* what, const std::set<std::string>& a, const std::set<std::string>& b, bool gone_too = false) {
            for (const auto& x : b)
                if (!a.count(x)) out += std::string(what) + " left: " + x + "\n";
            if (gone_too)
                for (const auto& x : a)
                    if (!b.count(x) && !before.dead_scratch.count(x)) out += std::string(what) + " gone: " + x + "\n";
        };
        sets("process", before.processes, processes);
        sets("cgroup", before.cgroups, cgroups);
        sets("libvirt domain", before.domains, domains);
        sets("BPF", before.bpf, bpf);
        sets("mount", before.mounts, mounts);
        // tracefs both ways: a run that mounted it must not leave it, nor unmount the host's
        sets("tracefs mount", before.tracefs, tracefs, true);
        sets("scratch", before.scratch, scratch, true);
        return out;
    }

private:
    // Live processes working in `dir`: their working directory is there, or their command line
    // names a path there (fio's --output, QEMU's files, liblxc's monitor).
    static std::vector<pid_t> pids_using(const std::string& d) {
        std::vector<pid_t> out;
        auto under = [&](const std::string& p) { return p == d || p.rfind(d + "/", 0) == 0; };
        for (pid_t pid : ht::all_pids()) {
            if (pid == getpid()) continue;
            const std::string base = "/proc/" + std::to_string(pid);
            char cwd[4096];
            const ssize_t n = readlink((base + "/cwd").c_str(), cwd, sizeof cwd - 1);
            bool uses = n > 0 && under(std::string(cwd, std::size_t(n)));
            const std::string cmd = ht_slurp(base + "/cmdline");
            for (std::size_t at = cmd.find(d); !uses && at != std::string::npos; at = cmd.find(d, at + 1)) {
                const char next = at + d.size() < cmd.size() ? cmd[at + d.size()] : '\0';
                uses = next == '/' || next == '\0' || next == ' ' || next == ',';
            }
            if (uses && ht::process_alive(pid)) out.push_back(pid);
        }
        return out;
    }
    static std::string cmdline(pid_t p) {
        std::string c = ht_slurp("/proc/" + std::to_string(p) + "/cmdline");
        for (char& ch : c)
            if (ch == '\0') ch = ' ';
        return c.substr(0, 120);
    }
    static std::string trimmed(std::string s) {
        while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
        return s;
    }
    static std::string output(std::vector<std::string> argv) {
        const TestTempDir tmp("/tmp/ht-snap-XXXXXX");
        const std::string dir = tmp.path;
        ht::SpawnOptions o;
        o.stdout_path = dir + "/out";
        o.stderr_path = dir + "/err";
        ht::Child c = ht::spawn(argv, o);
        waitpid(c.pid, nullptr, 0);
        return ht_slurp(dir + "/out");
    }
};
