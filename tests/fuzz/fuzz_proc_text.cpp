// SPDX-License-Identifier: MIT
// The smaller /proc and /sys readers: cpuinfo, meminfo, cgroup.procs, pids given on the command
// line, KSM's sysfs settings file, the online CPU list, and the cgroup a process sits in
// (/proc/PID/cgroup against mountinfo: the input split at its first NUL byte).
#include "core/host/host_settings.h"
#include "core/host/proc.h"
#include "fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text = fuzz_text(data, size);
    fuzz_expect_user_errors_only([&] {
        ht::parse_cpuinfo(text);
        ht::parse_meminfo_kb(text, "MemTotal");
        for (pid_t p : ht::parse_pid_list(text)) HT_FUZZ_CHECK(p > 0);
        if (auto p = ht::parse_pid(text, 4194304)) HT_FUZZ_CHECK(*p >= 1 && *p < 4194304);
        ht::parse_ksm_settings(text);
        for (int c : ht::parse_cpu_list(text)) HT_FUZZ_CHECK(c >= 0 && c < 8192);
        const auto nul = text.find('\0');
        const std::string cgroup = text.substr(0, nul), mountinfo = nul == std::string::npos ? "" : text.substr(nul + 1);
        ht::cgroup_dir_under(cgroup, mountinfo, "lxc.payload.");
        // a process's cgroup path never walks up (a mount point, from the kernel's mountinfo, may say anything)
        for (const auto& d : ht::cgroup_dirs(cgroup, mountinfo))
            HT_FUZZ_CHECK(d.find("/..") == std::string::npos || mountinfo.find("/..") != std::string::npos);
    });
    return 0;
}
