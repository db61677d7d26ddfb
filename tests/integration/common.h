// SPDX-License-Identifier: MIT
#pragma once
#include <gtest/gtest.h>
#include "../run_binary.h"
#include "../temp_dir.h"
#include "../wait_for.h"
#include "core/host/proc.h"

#include <chrono>
#include <cstdlib>
#include <dirent.h>
#include <filesystem>
#include <functional>
#include <thread>
#include <unistd.h>

#define HT_REQUIRE_ROOT()                                                                          \
    do {                                                                                           \
        if (geteuid() != 0) GTEST_SKIP() << "needs root (BPF, QEMU, LXC): run the suite as root"; \
    } while (0)

// Pids whose command line contains `needle`.
inline std::vector<pid_t> pids_with(const std::string& needle) {
    std::vector<pid_t> found;
    DIR* d = opendir("/proc");
    while (dirent* e = readdir(d)) {
        pid_t pid = atoi(e->d_name);
        if (pid <= 0 || pid == getpid()) continue;
        std::string cmd = ht_slurp("/proc/" + std::string(e->d_name) + "/cmdline");
        for (char& c : cmd)
            if (c == '\0') c = ' ';
        if (cmd.find(needle) != std::string::npos && ht::process_alive(pid)) found.push_back(pid);
    }
    closedir(d);
    return found;
}

inline int hypetrace_bpf_programs() {
    // Our programs' names as the kernel keeps them (15 chars): count them in bpftool's listing.
    const TestTempDir tmp("/tmp/ht-bpftool-XXXXXX");
    const std::string dir = tmp.path;
    ht::SpawnOptions o;
    o.stdout_path = dir + "/out";
    ht::Child c = ht::spawn({"bpftool", "prog", "show"}, o);
    waitpid(c.pid, nullptr, 0);
    std::string text = ht_slurp(dir + "/out");
    int n = 0;
    for (std::size_t p = 0; (p = text.find("ht_kvm_exit", p)) != std::string::npos; ++p) ++n;
    return n;
}

// The selected transparent huge page mode ("" without THP).
inline std::string thp_mode() {
    std::string s = ht::read_text("/sys/kernel/mm/transparent_hugepage/enabled").value_or("");
    auto a = s.find('['), b = s.find(']');
    return a == std::string::npos ? "" : s.substr(a + 1, b - a - 1);
}

// LXC monitors of containers whose name contains `needle` that run on their own: a container
// whose start() has not returned yet dies with a killed caller (its monitor still reports to the
// caller over a socket pair, and the monitor's first fork, already named "[lxc monitor]", is still
// the caller's child); once the monitor is reparented, the container outlives `caller`.
inline std::size_t daemonized_lxc_monitors(const std::string& needle, pid_t caller) {
    std::size_t n = 0;
    for (pid_t p : pids_with(needle)) {
        auto st = ht::parse_proc_stat(ht_slurp("/proc/" + std::to_string(p) + "/stat"));
        std::string cmd = ht_slurp("/proc/" + std::to_string(p) + "/cmdline");
        std::string parent = st ? ht_slurp("/proc/" + std::to_string(st->ppid) + "/cmdline") : "";
        if (st && st->ppid != caller && cmd.rfind("[lxc monitor]", 0) == 0 && parent.rfind("[lxc monitor]", 0) != 0) ++n;
    }
    return n;
}
