// SPDX-License-Identifier: MIT
#include "core/tracing/symbols.h"

#include "core/host/proc.h"
#include "core/host/proc.h"
#include "core/base/text.h"

#include <cxxabi.h>
#include <elf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace ht {

namespace {

template <typename T>
bool read_at(std::string_view b, uint64_t off, T* out) {
    if (off > b.size() || b.size() - off < sizeof(T)) return false;
    std::memcpy(out, b.data() + off, sizeof(T));
    return true;
}

}  // namespace

std::optional<ElfSymbols> ElfSymbols::parse(std::string_view b) {
    Elf64_Ehdr eh;
    if (!read_at(b, 0, &eh) || std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
        eh.e_ident[EI_DATA] != ELFDATA2LSB)
        return std::nullopt;
    ElfSymbols out;
    for (unsigned i = 0; i < eh.e_phnum; ++i) {
        Elf64_Phdr ph;
        if (!read_at(b, eh.e_phoff + uint64_t(i) * eh.e_phentsize, &ph)) break;
        // A segment whose end does not fit in 64 bits is no segment (the lookups add filesz).
        if (ph.p_type == PT_LOAD && ph.p_offset + ph.p_filesz >= ph.p_offset && ph.p_vaddr + ph.p_filesz >= ph.p_vaddr)
            out.loads_.push_back({ph.p_offset, ph.p_vaddr, ph.p_filesz});
    }
    std::vector<Elf64_Shdr> sh;
    for (unsigned i = 0; i < eh.e_shnum; ++i) {
        Elf64_Shdr s;
        if (!read_at(b, eh.e_shoff + uint64_t(i) * eh.e_shentsize, &s)) break;
        sh.push_back(s);
    }
    // .symtab when present (unstripped files), .dynsym too: stripped files keep only that.
    for (const auto& s : sh) {
        if (s.sh_type != SHT_SYMTAB && s.sh_type != SHT_DYNSYM) continue;
        if (s.sh_link >= sh.size() || s.sh_entsize < sizeof(Elf64_Sym)) continue;
        const Elf64_Shdr& strs = sh[s.sh_link];
        if (strs.sh_offset > b.size() || b.size() - strs.sh_offset < strs.sh_size) continue;
        std::string_view strtab = b.substr(strs.sh_offset, strs.sh_size);
        for (uint64_t off = 0; off + sizeof(Elf64_Sym) <= s.sh_size; off += s.sh_entsize) {
            Elf64_Sym sym;
            if (!read_at(b, s.sh_offset + off, &sym)) break;
            const unsigned type = ELF64_ST_TYPE(sym.st_info);
            if ((type != STT_FUNC && type != STT_GNU_IFUNC) || sym.st_shndx == SHN_UNDEF || sym.st_value == 0) continue;
            if (sym.st_name >= strtab.size()) continue;
            std::string_view name = strtab.substr(sym.st_name);
            name = name.substr(0, name.find('\0'));
            if (name.empty()) continue;
            out.syms_.push_back({sym.st_value, sym.st_size, std::string(name)});
        }
    }
    // Sorted by address; of several names for one address keep the first sized one.
    std::stable_sort(out.syms_.begin(), out.syms_.end(), [](const ElfSymbol& a, const ElfSymbol& b) {
        return a.addr != b.addr ? a.addr < b.addr : (a.size != 0) > (b.size != 0);
    });
    out.syms_.erase(std::unique(out.syms_.begin(), out.syms_.end(),
                                [](const ElfSymbol& a, const ElfSymbol& b) { return a.addr == b.addr; }),
                    out.syms_.end());
    return out;
}

std::optional<ElfSymbols> ElfSymbols::load(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return std::nullopt;
    struct stat st {};
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < int64_t(sizeof(Elf64_Ehdr))) {
        ::close(fd);
        return std::nullopt;
    }
    // Read, not mapped: another process may truncate the file meanwhile (a package upgrade, a
    // rebuilt binary), and touching a mapping past the new end is SIGBUS. A short read parses as
    // a short file, which parse() bounds-checks.
    std::string data(std::size_t(st.st_size), '\0');
    std::size_t got = 0;
    while (got < data.size()) {
        const ssize_t n = pread(fd, data.data() + got, data.size() - got, off_t(got));
        if (n <= 0) break;
        got += std::size_t(n);
    }
    ::close(fd);
    data.resize(got);
    return parse(std::string_view(data));
}

std::optional<uint64_t> ElfSymbols::vaddr_of_offset(uint64_t offset) const {
    for (const auto& l : loads_)
        if (offset >= l.offset && offset < l.offset + l.filesz) return offset - l.offset + l.vaddr;
    return std::nullopt;
}

std::optional<uint64_t> ElfSymbols::offset_of_vaddr(uint64_t vaddr) const {
    for (const auto& l : loads_)
        if (vaddr >= l.vaddr && vaddr < l.vaddr + l.filesz) return vaddr - l.vaddr + l.offset;
    return std::nullopt;
}

const ElfSymbol* ElfSymbols::by_name(const std::string& name) const {
    for (const auto& s : syms_)
        if (s.name == name) return &s;
    return nullptr;
}

const ElfSymbol* ElfSymbols::find(uint64_t vaddr) const {
    auto it = std::upper_bound(syms_.begin(), syms_.end(), vaddr,
                               [](uint64_t v, const ElfSymbol& s) { return v < s.addr; });
    if (it == syms_.begin()) return nullptr;
    const ElfSymbol& s = *std::prev(it);
    if (s.size != 0 && vaddr >= s.addr + s.size) return nullptr;  // in a gap after a sized symbol
    return &s;
}

KernelSymbols KernelSymbols::parse(std::string_view text) {
    std::vector<std::pair<uint64_t, std::string>> v;
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t nl = text.find('\n', pos);
        std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
        pos = nl == std::string_view::npos ? text.size() : nl + 1;
        // "ffffffff81000000 T _stext" or "ffffffffc0000000 t fn\t[module]"
        std::size_t s1 = line.find(' ');
        if (s1 == std::string_view::npos || s1 + 3 > line.size()) continue;
        char type = line[s1 + 1];
        if (type != 't' && type != 'T' && type != 'w' && type != 'W') continue;
        uint64_t addr = std::strtoull(std::string(line.substr(0, s1)).c_str(), nullptr, 16);
        if (addr == 0) continue;
        std::string_view rest = line.substr(s1 + 3);
        std::string name;
        std::size_t tab = rest.find('\t');
        if (tab == std::string_view::npos) {
            name = std::string(rest);
        } else {
            name = std::string(rest.substr(0, tab)) + " " + std::string(rest.substr(tab + 1));
        }
        if (name.empty() || name[0] == ' ') continue;  // no name: not a symbol to print
        v.emplace_back(addr, std::move(name));
    }
    std::stable_sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    KernelSymbols k;
    k.addrs_.reserve(v.size());
    k.names_.reserve(v.size());
    for (auto& [a, n] : v) {
        k.addrs_.push_back(a);
        k.names_.push_back(std::move(n));
    }
    return k;
}

KernelSymbols KernelSymbols::load() { return parse(read_text("/proc/kallsyms").value_or("")); }

std::string KernelSymbols::name(uint64_t addr) const {
    auto it = std::upper_bound(addrs_.begin(), addrs_.end(), addr);
    if (it == addrs_.begin()) return "[kernel]";
    return names_[std::size_t(std::prev(it) - addrs_.begin())];
}

std::vector<ExecMapping> parse_exec_mappings(std::string_view text) {
    std::vector<ExecMapping> out;
    for (auto& r : parse_maps(std::string(text))) {
        if (r.perms.size() < 3 || r.perms[2] != 'x') continue;
        ExecMapping m;
        m.start = r.start;
        m.end = r.end;
        m.offset = r.offset;
        // The file's identity as /proc prints it (dev "%02x:%02x", inode); none for anonymous code.
        if (!r.anonymous()) {
            char id[64];
            std::snprintf(id, sizeof id, "%02x:%02x:%llu", r.dev_major, r.dev_minor, (unsigned long long)r.inode);
            m.dev_inode = id;
        }
        m.path = std::move(r.path);
        out.push_back(std::move(m));
    }
    return out;
}

std::string demangle(const std::string& name) {
    if (name.size() < 3 || name.compare(0, 2, "_Z") != 0) return name;
    int status = 0;
    char* d = abi::__cxa_demangle(name.c_str(), nullptr, nullptr, &status);
    if (status != 0 || !d) return name;
    std::string out(d);
    std::free(d);
    return out;
}

Symbolizer::Symbolizer(std::string proc_root) : proc_root_(std::move(proc_root)) {}

bool Symbolizer::snapshot(pid_t tgid) {
    const std::string dir = proc_root_ + "/" + std::to_string(tgid);
    auto maps = read_text(dir + "/maps");
    if (!maps) return false;
    auto mappings = parse_exec_mappings(*maps);
    if (mappings.empty() && procs_.count(tgid)) return true;  // exiting: keep what we had
    for (const auto& m : mappings) {
        if (m.dev_inode.empty() || files_.count(m.dev_inode)) continue;
        // map_files/START-END opens the very file mapped, in whatever mount namespace.
        char name[64];
        std::snprintf(name, sizeof name, "/map_files/%lx-%lx", (unsigned long)m.start, (unsigned long)m.end);
        auto syms = ElfSymbols::load(dir + name);
        if (!syms) syms = ElfSymbols::load(dir + "/root" + m.path);
        files_[m.dev_inode] = syms ? std::make_shared<const ElfSymbols>(std::move(*syms)) : nullptr;
    }
    procs_[tgid] = std::move(mappings);
    return true;
}

std::string Symbolizer::user_frame(pid_t tgid, uint64_t ip) const {
    auto p = procs_.find(tgid);
    if (p == procs_.end()) return "[unknown]";
    for (const auto& m : p->second) {
        if (ip < m.start || ip >= m.end) continue;
        auto f = files_.find(m.dev_inode);
        if (f != files_.end() && f->second) {
            if (auto va = f->second->vaddr_of_offset(ip - m.start + m.offset))
                if (const ElfSymbol* s = f->second->find(*va)) return demangle(s->name);
        }
        if (m.path.empty()) return "[anon]";
        return m.path[0] == '[' ? m.path : "[" + base_name(m.path) + "]";
    }
    return "[unknown]";
}

std::string Symbolizer::kernel_frame(uint64_t ip) const {
    if (!kernel_) kernel_ = std::make_unique<KernelSymbols>(KernelSymbols::load());
    return kernel_->name(ip);
}

}  // namespace ht
