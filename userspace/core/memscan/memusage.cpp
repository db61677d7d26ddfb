// SPDX-License-Identifier: MIT
#include "core/memscan/memusage.h"

#include "core/host/proc.h"

#include <filesystem>
#include <cstdlib>
#include <sstream>

namespace ht {

MemUsage& MemUsage::operator+=(const MemUsage& o) {
    rss_kb += o.rss_kb;
    pss_kb += o.pss_kb;
    pss_anon_kb += o.pss_anon_kb;
    pss_file_kb += o.pss_file_kb;
    pss_shmem_kb += o.pss_shmem_kb;
    swap_pss_kb += o.swap_pss_kb;
    ksm_merging_pages += o.ksm_merging_pages;
    processes += o.processes;
    return *this;
}

MemUsage parse_smaps_rollup(const std::string& text) {
    MemUsage m;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        auto colon = line.find(':');
        if (colon == std::string::npos) continue;
        std::string key = line.substr(0, colon);
        uint64_t v = std::strtoull(line.c_str() + colon + 1, nullptr, 10);
        if (key == "Rss") m.rss_kb = v;
        else if (key == "Pss") m.pss_kb = v;
        else if (key == "Pss_Anon") m.pss_anon_kb = v;
        else if (key == "Pss_File") m.pss_file_kb = v;
        else if (key == "Pss_Shmem") m.pss_shmem_kb = v;
        else if (key == "SwapPss") m.swap_pss_kb = v;
    }
    return m;
}

std::optional<MemUsage> read_process_memory(pid_t pid) {
    const std::string base = "/proc/" + std::to_string(pid);
    auto text = read_text(base + "/smaps_rollup");
    if (!text || text->empty()) return std::nullopt;
    MemUsage m = parse_smaps_rollup(*text);
    if (auto k = read_text(base + "/ksm_merging_pages")) m.ksm_merging_pages = std::strtoull(k->c_str(), nullptr, 10);
    m.processes = 1;
    return m;
}

MemUsage read_processes_memory(const std::vector<pid_t>& pids) {
    MemUsage sum;
    for (pid_t p : pids)
        if (auto m = read_process_memory(p)) sum += *m;
    return sum;
}

VmMemParts parse_vm_smaps(const std::string& text, uint64_t guest_ram_bytes) {
    VmMemParts parts;
    std::istringstream in(text);
    std::string line;
    enum { ram, tcg, qemu } cls = qemu;
    while (std::getline(in, line)) {
        // A mapping header: "start-end perms offset dev inode [name]"
        auto dash = line.find('-');
        auto sp = line.find(' ');
        if (dash != std::string::npos && sp != std::string::npos && dash < sp &&
            line.find_first_not_of("0123456789abcdef") == dash) {
            uint64_t start = std::strtoull(line.c_str(), nullptr, 16);
            uint64_t end = std::strtoull(line.c_str() + dash + 1, nullptr, 16);
            std::istringstream h(line);
            std::string range, perms, off, dev, inode, name;
            h >> range >> perms >> off >> dev >> inode;
            std::getline(h, name);
            bool anon = inode == "0" && name.find_first_not_of(' ') == std::string::npos;
            if (anon && end - start == guest_ram_bytes && !parts.guest_ram_found) {
                cls = ram;
                parts.guest_ram_found = true;
            } else if (anon && perms.size() >= 3 && perms[2] == 'x') {
                cls = tcg;
            } else {
                cls = qemu;
            }
            continue;
        }
        if (line.rfind("Pss:", 0) == 0) {
            uint64_t kb = std::strtoull(line.c_str() + 4, nullptr, 10);
            (cls == ram ? parts.guest_ram_kb : cls == tcg ? parts.tcg_cache_kb : parts.qemu_kb) += kb;
        }
    }
    return parts;
}

std::optional<VmMemParts> read_vm_parts(pid_t pid, uint64_t guest_ram_bytes) {
    auto text = read_text("/proc/" + std::to_string(pid) + "/smaps");
    if (!text || text->empty()) return std::nullopt;
    return parse_vm_smaps(*text, guest_ram_bytes);
}

bool parse_ksm_mergeable(const std::string& text) {
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        if (line == "ksm_mergeable: yes" || line == "ksm_merge_any: yes") return true;
        // Kernels before 6.8 have no ksm_mergeable line: rmap items exist only for mergeable memory.
        if (line.rfind("ksm_rmap_items ", 0) == 0 && std::strtoull(line.c_str() + 15, nullptr, 10) > 0) return true;
    }
    return false;
}

bool ksm_mergeable(pid_t pid) {
    return parse_ksm_mergeable(read_text("/proc/" + std::to_string(pid) + "/ksm_stat").value_or(""));
}

uint64_t parse_status_kb(const std::string& status_text, const std::string& key) {
    std::istringstream in(status_text);
    std::string line;
    while (std::getline(in, line))
        if (line.compare(0, key.size() + 1, key + ":") == 0)
            return std::strtoull(line.c_str() + key.size() + 1, nullptr, 10);
    return 0;
}

uint64_t self_peak_rss_kb() { return parse_status_kb(read_text("/proc/self/status").value_or(""), "VmHWM"); }

uint64_t self_rss_kb() { return parse_status_kb(read_text("/proc/self/status").value_or(""), "VmRSS"); }

unsigned self_open_fds() {
    unsigned n = 0;
    std::error_code ec;
    for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec); !ec && it != std::filesystem::directory_iterator();
         it.increment(ec))
        ++n;
    return n > 0 ? n - 1 : 0;  // the directory's own descriptor while it is read
}

}  // namespace ht
