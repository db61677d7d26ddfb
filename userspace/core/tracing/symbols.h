// SPDX-License-Identifier: MIT
// Symbolisation of sampled instruction pointers, done while the processes still exist: the kernel's
// from /proc/kallsyms, a process's from its executable mappings (/proc/PID/maps) and the ELF symbol
// tables of the mapped files (.symtab where the file kept it, .dynsym otherwise). PIE-aware: an
// address becomes a file offset through its mapping, then a virtual address through the file's
// PT_LOAD headers, whatever address the file was loaded at.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace ht {

struct ElfSymbol {
    uint64_t addr = 0;  // virtual address in the file (st_value)
    uint64_t size = 0;  // 0: up to the next symbol
    std::string name;
};

// One ELF file's function symbols. Pure parsing of bytes; no demangling here.
class ElfSymbols {
public:
    // nullopt if `bytes` is not a 64-bit little-endian ELF file.
    static std::optional<ElfSymbols> parse(std::string_view bytes);
    static std::optional<ElfSymbols> load(const std::string& path);

    // The virtual address a file offset is loaded at (PT_LOAD headers); nullopt outside them.
    std::optional<uint64_t> vaddr_of_offset(uint64_t offset) const;
    // The inverse: the file offset holding `vaddr`.
    std::optional<uint64_t> offset_of_vaddr(uint64_t vaddr) const;
    // The first function symbol called `name`, or null.
    const ElfSymbol* by_name(const std::string& name) const;
    // The function containing `vaddr`, or null.
    const ElfSymbol* find(uint64_t vaddr) const;
    std::size_t size() const { return syms_.size(); }

private:
    struct Load {
        uint64_t offset, vaddr, filesz;
    };
    std::vector<Load> loads_;
    std::vector<ElfSymbol> syms_;  // sorted by addr
};

// /proc/kallsyms: text symbols sorted by address. Without root the addresses read as zero: then
// every kernel frame is "[kernel]".
class KernelSymbols {
public:
    static KernelSymbols parse(std::string_view kallsyms_text);
    static KernelSymbols load();
    // "name" (module symbols: "name [module]"), or "[kernel]" when unknown.
    std::string name(uint64_t addr) const;
    std::size_t size() const { return addrs_.size(); }

private:
    std::vector<uint64_t> addrs_;
    std::vector<std::string> names_;
};

// An executable mapping from /proc/PID/maps.
struct ExecMapping {
    uint64_t start = 0, end = 0, offset = 0;
    std::string dev_inode;  // "dev:inode": the file's identity, whatever path it has in a container
    std::string path;       // as the process sees it ("[vdso]", "/usr/bin/qemu-system-x86_64", ...)
};
std::vector<ExecMapping> parse_exec_mappings(std::string_view maps_text);

// "a" demangled if it is a C++ mangled name; as is otherwise.
std::string demangle(const std::string& name);

// Symbolises user and kernel frames. Call snapshot(tgid) while the process is alive (and again
// after it loaded more libraries): its mappings are kept, and the ELF files they map are read
// through /proc/PID/map_files (so a container's files and deleted files resolve) and cached by
// file identity.
class Symbolizer {
public:
    explicit Symbolizer(std::string proc_root = "/proc");
    // Reads the process's executable mappings and the symbols of their files. False if the
    // process is gone (its last snapshot, if any, stays).
    bool snapshot(pid_t tgid);
    bool known(pid_t tgid) const { return procs_.count(tgid) != 0; }
    // "function", or "[file name]" for an address in a mapping of a file without a symbol for it,
    // or "[unknown]".
    std::string user_frame(pid_t tgid, uint64_t ip) const;
    std::string kernel_frame(uint64_t ip) const;
    std::size_t files_read() const { return files_.size(); }

private:
    std::string proc_root_;
    std::unordered_map<pid_t, std::vector<ExecMapping>> procs_;
    std::unordered_map<std::string, std::shared_ptr<const ElfSymbols>> files_;  // by dev:inode; null: not ELF
    mutable std::unique_ptr<KernelSymbols> kernel_;
};

}  // namespace ht
