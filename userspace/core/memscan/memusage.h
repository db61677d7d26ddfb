// SPDX-License-Identifier: MIT
// Memory of processes as the kernel accounts it: /proc/PID/smaps_rollup (PSS and its split into
// anonymous, file and shmem) and /proc/PID/ksm_merging_pages. PSS divides every shared page among
// the processes mapping it, so sums over processes are exact (the paper's footprint metric).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace ht {

struct MemUsage {
    uint64_t rss_kb = 0;
    uint64_t pss_kb = 0;
    uint64_t pss_anon_kb = 0;
    uint64_t pss_file_kb = 0;
    uint64_t pss_shmem_kb = 0;
    uint64_t swap_pss_kb = 0;
    uint64_t ksm_merging_pages = 0;  // pages of this process KSM has merged
    unsigned processes = 0;          // how many processes were summed
    MemUsage& operator+=(const MemUsage& o);
};

// Parses smaps_rollup text (fields in kB). Absent fields stay 0 (Pss_Anon etc. are 5.x+).
MemUsage parse_smaps_rollup(const std::string& text);

// One process; std::nullopt if it vanished or is a kernel thread (no smaps_rollup content).
std::optional<MemUsage> read_process_memory(pid_t pid);

// Sum over processes; those that vanished meanwhile are skipped (processes counts the others).
MemUsage read_processes_memory(const std::vector<pid_t>& pids);

// Where a VM's PSS goes, from /proc/PID/smaps of its QEMU process: the anonymous mapping exactly
// the guest's RAM size is guest RAM; anonymous executable mappings are TCG's translated-code cache
// (absent under KVM); the rest is QEMU itself (heap, device state, libraries, mapped kernel/initrd).
struct VmMemParts {
    uint64_t guest_ram_kb = 0, tcg_cache_kb = 0, qemu_kb = 0;
    bool guest_ram_found = false;
};
VmMemParts parse_vm_smaps(const std::string& smaps_text, uint64_t guest_ram_bytes);
std::optional<VmMemParts> read_vm_parts(pid_t qemu_pid, uint64_t guest_ram_bytes);

// True if KSM may merge any of the process's memory (MADV_MERGEABLE regions or
// PR_SET_MEMORY_MERGE), from /proc/PID/ksm_stat text.
bool parse_ksm_mergeable(const std::string& ksm_stat_text);
bool ksm_mergeable(pid_t pid);

// A field of /proc/PID/status in kB (VmRSS, VmHWM, ...), 0 if absent.
uint64_t parse_status_kb(const std::string& status_text, const std::string& key);
// This process's peak RSS (VmHWM) in kB.
uint64_t self_peak_rss_kb();
// This process's resident set now (VmRSS) and its open file descriptors (BPF links and programs,
// sockets, pipes included): what a long run must not grow.
uint64_t self_rss_kb();
unsigned self_open_fds();

}  // namespace ht
