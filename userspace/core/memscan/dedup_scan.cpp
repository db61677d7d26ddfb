// SPDX-License-Identifier: MIT
#include "core/memscan/dedup_scan.h"

#include "core/base/clock.h"
#include "core/base/parallel.h"
#include "core/memscan/memusage.h"
#include "core/host/files.h"
#include "core/host/proc.h"
#include "core/base/text.h"

#include <algorithm>
#include <atomic>
#include <dirent.h>
#include <fcntl.h>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <xxhash.h>

namespace ht {
namespace {

constexpr uint64_t kPage = 4096;

bool is_shmem_path(const std::string& p) {
    return p.rfind("/dev/shm/", 0) == 0 || p.rfind("/memfd:", 0) == 0 || p.rfind("/SYSV", 0) == 0 ||
           p.rfind("/dev/zero", 0) == 0;
}

bool is_qemu(pid_t pid) {
    std::error_code ec;
    auto exe = std::filesystem::read_symlink("/proc/" + std::to_string(pid) + "/exe", ec).filename().string();
    return exe.rfind("qemu-system", 0) == 0 || exe.rfind("qemu-kvm", 0) == 0;
}

struct FileKey {
    dev_t dev;
    ino_t ino;
    bool operator<(const FileKey& o) const { return dev != o.dev ? dev < o.dev : ino < o.ino; }
};

// The index is reserved from what processes report resident; if they grew meanwhile it grows by
// 1/16 at a time, not by doubling, so it stays near 16 bytes per page.
void push(std::vector<PageRef>& v, const PageRef& r) {
    if (v.size() == v.capacity()) v.reserve(v.capacity() + v.capacity() / 16 + 4096);
    v.push_back(r);
}

// Visits the resident page-cache pages of one open file, mapped read-only and shared in 4 MiB
// windows (our RSS stays small): fn(hash, pfn). Pages not resident are never read: mincore says
// which are, MADV_RANDOM keeps a fault from reading ahead, and their content is copied by the
// kernel (hash_mapped_pages), which fills in the window's page table for pagemap to give their
// frames. A window of a file truncated under us gives nothing (its pages are gone from the file).
// Only the windows that start in [from, to) when given (the parallel scan's share of a file).
constexpr uint64_t kCacheWindow = 4ull << 20;
template <class F>
void visit_cached_pages(int fd, uint64_t size, int self_pagemap, F&& fn, uint64_t from = 0, uint64_t to = UINT64_MAX) {
    constexpr std::size_t kWindowPages = kCacheWindow / kPage;
    std::vector<unsigned char> vec(kWindowPages);
    std::vector<uint64_t> pm(kWindowPages), hashes(kWindowPages);
    for (uint64_t off = from; off < size && off < to; off += kCacheWindow) {
        const uint64_t len = std::min(kCacheWindow, size - off);
        void* m = mmap(nullptr, len, PROT_READ, MAP_SHARED, fd, off_t(off));
        if (m == MAP_FAILED) return;
        madvise(m, len, MADV_RANDOM);  // a page faulted in must not read ahead
        const std::size_t n = std::size_t((len + kPage - 1) / kPage);
        const bool ok = mincore(m, len, vec.data()) == 0 &&
                        hash_mapped_pages(static_cast<const char*>(m), n, vec.data(), hashes.data()) &&
                        pread(self_pagemap, pm.data(), n * sizeof(uint64_t),
                              off_t(reinterpret_cast<uint64_t>(m) / kPage * sizeof(uint64_t))) == ssize_t(n * sizeof(uint64_t));
        munmap(m, len);
        if (!ok) continue;
        for (std::size_t i = 0; i < n; ++i) {
            if (!(vec[i] & 1)) continue;
            const PagemapEntry e = decode_pagemap(pm[i]);
            if (e.present) fn(hashes[i], e.pfn);
        }
    }
}

// The index's reserved memory made resident in one call, before it is filled: where a page fault
// traps to a hypervisor (PVM) a fresh page costs ~10 us when first written, half of it the fault
// this saves. Only a hint: kernels before 5.14 have no MADV_POPULATE_WRITE, and then nothing changes.
void prefault(std::vector<PageRef>& v) {
#ifdef MADV_POPULATE_WRITE
    const uintptr_t first = (reinterpret_cast<uintptr_t>(v.data() + v.size()) + kPage - 1) / kPage * kPage;
    const uintptr_t end = reinterpret_cast<uintptr_t>(v.data() + v.capacity()) / kPage * kPage;
    if (end > first) madvise(reinterpret_cast<void*>(first), end - first, MADV_POPULATE_WRITE);
#else
    (void)v;
#endif
}

uint64_t resident_pages(pid_t pid) {
    auto t = read_text("/proc/" + std::to_string(pid) + "/statm");
    unsigned long long size = 0, res = 0;
    if (!t || sscanf(t->c_str(), "%llu %llu", &size, &res) != 2) return 0;
    return res;
}

// A cached file to read pages of, through `via` (a /proc/PID/map_files or fd link): open without
// touching its access time where allowed; nullopt unless a regular file with something in it.
struct OpenedFile {
    Fd fd;
    uint64_t size = 0;
    dev_t dev = 0;
    ino_t ino = 0;
};
std::optional<OpenedFile> open_cached_file(const std::string& via) {
    Fd fd = Fd::open_read(via, O_NOATIME);
    if (!fd) fd = Fd::open_read(via);
    struct stat sb {};
    if (!fd || fstat(fd.get(), &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size <= 0) return std::nullopt;
    return OpenedFile{std::move(fd), uint64_t(sb.st_size), sb.st_dev, sb.st_ino};
}

// Resident pages of a file, from mincore over 1 GiB of it mapped at a time (no page is touched),
// and the windows (kCacheWindow apart) holding any: the others are not visited again.
uint64_t file_resident_pages(int fd, uint64_t size, std::vector<uint64_t>* windows) {
    constexpr uint64_t kSpan = 1ull << 30;  // a multiple of kCacheWindow
    constexpr std::size_t per = kCacheWindow / kPage;
    std::vector<unsigned char> vec(kSpan / kPage);
    uint64_t n = 0;
    for (uint64_t off = 0; off < size; off += kSpan) {
        const uint64_t len = std::min(kSpan, size - off);
        void* m = mmap(nullptr, len, PROT_READ, MAP_SHARED, fd, off_t(off));
        if (m == MAP_FAILED) return n;
        const std::size_t pages = std::size_t((len + kPage - 1) / kPage);
        if (mincore(m, len, vec.data()) == 0)
            for (std::size_t w = 0; w < pages; w += per) {
                uint64_t in = 0;
                for (std::size_t i = w; i < std::min(pages, w + per); ++i) in += vec[i] & 1;
                if (in) windows->push_back(off + uint64_t(w) * kPage);
                n += in;
            }
        munmap(m, len);
    }
    return n;
}

}  // namespace

GuestPart classify_mapping(const MapRange& m, bool qemu, bool is_ram, const MapRange* prev) {
    if (is_ram) return GuestPart::guest_ram;
    if (m.path == "[stack]") return GuestPart::stack;
    const bool shared = m.perms.size() > 3 && m.perms[3] == 's';
    if (m.anonymous()) {
        if (shared) return GuestPart::shmem;
        if (qemu && m.perms.size() > 2 && m.perms[2] == 'x') return GuestPart::tcg_cache;
        if (prev && prev->anonymous() && prev->path.empty() && prev->perms == "---p" && prev->end == m.start &&
            prev->end - prev->start <= (64u << 10) && m.perms == "rw-p" && m.path.empty())
            return GuestPart::stack;  // a thread stack above its guard page
        return GuestPart::anon;
    }
    if (is_shmem_path(m.path)) return GuestPart::shmem;
    return GuestPart::file;
}

int find_guest_ram(const std::vector<MapRange>& maps, uint64_t ram_bytes) {
    int best = -1;
    uint64_t best_size = 0;
    for (std::size_t i = 0; i < maps.size(); ++i) {
        const MapRange& m = maps[i];
        if (!m.anonymous() || m.perms.size() < 4 || m.perms[2] == 'x' || m.perms[3] != 'p' || !m.path.empty()) continue;
        const uint64_t size = m.end - m.start;
        if (ram_bytes) {
            if (size == ram_bytes) return int(i);
        } else if (size >= (16ull << 20) && size > best_size) {
            best = int(i);
            best_size = size;
        }
    }
    return best;
}

std::vector<uint64_t> parse_mergeable_starts(const std::string& text) {
    std::vector<uint64_t> out;
    std::istringstream in(text);
    std::string line;
    uint64_t current = 0;
    while (std::getline(in, line)) {
        unsigned long long s = 0, e = 0;
        char dash = 0;
        if (!line.empty() && std::isxdigit(static_cast<unsigned char>(line[0])) &&
            sscanf(line.c_str(), "%llx%c%llx", &s, &dash, &e) == 3 && dash == '-') {
            current = s;
        } else if (line.rfind("VmFlags:", 0) == 0) {
            std::istringstream f(line.substr(8));
            std::string flag;
            while (f >> flag)
                if (flag == "mg") out.push_back(current);
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}

std::vector<PageRef> build_page_index(const IndexSources& src, IndexStats* st) {
    IndexStats local;
    IndexStats& s = st ? *st : local;
    const uint64_t t0 = mono_ns();
    std::vector<PageRef> refs;
    const uint64_t zh = zero_page_hash();
    const pid_t self = getpid();
    std::set<FileKey> files;
    std::vector<std::pair<FileKey, std::string>> openers;  // how to open each file (map_files or fd link)

    auto note_file = [&](const FileKey& k, const std::string& via) {
        if (files.insert(k).second) openers.push_back({k, via});
    };

    // A process is read in two steps: its maps, what each mapping is, and the files it maps (every
    // process's on every thread, before any page is read); then its pages, split into ranges of at
    // most kRangePages that every worker thread takes from one list (pagemap + copy + hash: the
    // scan's cost, on every core).
    struct Proc {
        pid_t pid;
        uint64_t started;  // its start time (ticks since boot): the same pid later is the same process
        PageOwner owner;
        std::vector<MapRange> maps;
        std::vector<uint8_t> part, mergeable;
        bool qemu = false;  // a guest's QEMU
        int ram = -1;       // then its guest RAM mapping (-1: none found)
        uint64_t resident = 0;  // pages, as /proc/PID/statm says (what the index is sized from)
        std::vector<std::pair<FileKey, std::string>> mapped_files;  // noted once all are read, in order
    };
    auto started_at = [](pid_t pid) -> std::optional<uint64_t> {
        const auto text = read_text("/proc/" + std::to_string(pid) + "/stat");
        const auto st = text ? parse_proc_stat(*text) : std::nullopt;
        return st ? std::optional<uint64_t>(st->starttime_ticks) : std::nullopt;
    };
    // Runs on the scan's threads: reads only /proc, writes only its own Proc.
    auto prepare = [&](pid_t pid, PageOwner owner) -> std::optional<Proc> {
        const std::string base = "/proc/" + std::to_string(pid);
        const auto started = started_at(pid);
        auto maps_text = read_text(base + "/maps");
        if (!started || !maps_text || maps_text->empty()) return std::nullopt;  // gone, or a kernel thread
        Proc p{pid, *started, owner, parse_maps(*maps_text), {}, {}, false, -1, resident_pages(pid), {}};
        std::vector<MapRange>& maps = p.maps;
        if (owner != PageOwner::host && src.guest_map_filter)
            for (auto& m : maps)
                if (!src.guest_map_filter(pid, m)) m.perms = "----";  // not scanned, its file not noted
        const bool qemu = p.qemu = owner != PageOwner::host && is_qemu(pid);
        p.ram = qemu ? find_guest_ram(maps, src.guest_ram_bytes) : -1;
        p.part.resize(maps.size());
        p.mergeable.resize(maps.size());
        std::vector<uint64_t> mg;
        if (ksm_mergeable(pid))
            if (auto sm = read_text(base + "/smaps")) mg = parse_mergeable_starts(*sm);
        for (std::size_t i = 0; i < maps.size(); ++i) {
            p.part[i] = uint8_t(classify_mapping(maps[i], qemu, int(i) == p.ram, i ? &maps[i - 1] : nullptr));
            p.mergeable[i] = std::binary_search(mg.begin(), mg.end(), maps[i].start);
            const MapRange& m = maps[i];
            if (src.host && m.readable() && !m.anonymous() && !m.path.empty() && m.path[0] == '/')
                p.mapped_files.push_back({{makedev(m.dev_major, m.dev_minor), ino_t(m.inode)},
                                          base + "/map_files/" + hex(m.start, false) + "-" + hex(m.end, false)});
        }
        return p;
    };
    // Files it holds open (a VM's disk image): their page cache is host memory too.
    auto note_open_files = [&](const Proc& p) {
        if (p.owner != PageOwner::host && src.guest_map_filter) return;
        const std::string base = "/proc/" + std::to_string(p.pid);
        if (DIR* d = opendir((base + "/fd").c_str())) {
            while (dirent* e = readdir(d)) {
                if (e->d_name[0] == '.') continue;
                const std::string link = base + "/fd/" + e->d_name;
                struct stat sb {};
                if (stat(link.c_str(), &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > 0)
                    note_file({sb.st_dev, sb.st_ino}, link);
            }
            closedir(d);
        }
    };
    const unsigned threads = worker_threads(src.threads);
    s.threads = threads;
    // Every group's processes prepared at once, on every thread (a guest is often one process:
    // a group at a time would leave the other threads idle).
    auto prepare_all = [&](const std::vector<std::pair<const std::vector<pid_t>*, PageOwner>>& groups) {
        std::vector<std::pair<pid_t, PageOwner>> who;
        for (const auto& [pids, owner] : groups)
            for (pid_t pid : *pids) who.push_back({pid, owner});
        std::vector<std::optional<Proc>> got(who.size());
        std::atomic<std::size_t> next{0};
        on_threads(unsigned(std::clamp<std::size_t>(who.size(), 1, threads)), [&](unsigned) {
            for (std::size_t k; (k = next.fetch_add(1)) < who.size();) got[k] = prepare(who[k].first, who[k].second);
        });
        std::vector<std::vector<Proc>> out(groups.size());
        std::size_t k = 0;
        for (std::size_t g = 0; g < groups.size(); ++g)
            for (std::size_t i = 0; i < groups[g].first->size(); ++i, ++k) {
                if (!got[k]) continue;
                Proc& p = *got[k];
                if (p.owner == PageOwner::guest && p.qemu && s.guest_ram.empty()) {
                    const std::vector<MapRange>& maps = p.maps;
                    s.guest_ram = p.ram < 0 ? "not found"
                                            : hex(maps[std::size_t(p.ram)].start, false) + "-" +
                                                  hex(maps[std::size_t(p.ram)].end, false) + " (" +
                                                  std::to_string((maps[std::size_t(p.ram)].end - maps[std::size_t(p.ram)].start) >> 20) +
                                                  " MiB anonymous" +
                                                  (src.guest_ram_bytes ? ", the guest's RAM size" : ", the largest") + ")";
                }
                out[g].push_back(std::move(p));
            }
        return out;
    };
    auto scan_group = [&](std::vector<Proc>& procs, PageOwner owner) {
        const uint64_t p0 = mono_ns();
        // A process that ended since its maps were read (before the earlier groups' pages, maybe)
        // was never scanned: left out, not counted as vanished.
        std::erase_if(procs, [&](const Proc& p) { return started_at(p.pid) != p.started; });
        struct Range {
            uint32_t proc, map;
            uint64_t start, end;
        };
        constexpr uint64_t kRangePages = 4096;  // 16 MiB: small enough to balance, big enough to amortise
        std::vector<Range> ranges;
        for (uint32_t pi = 0; pi < procs.size(); ++pi)
            for (uint32_t mi = 0; mi < procs[pi].maps.size(); ++mi) {
                const MapRange& m = procs[pi].maps[mi];
                if (!scannable(m)) continue;
                for (uint64_t a = m.start; a < m.end; a += kRangePages * kPage)
                    ranges.push_back({pi, mi, a, std::min(m.end, a + kRangePages * kPage)});
            }
        // What each worker found goes to `refs` a range at a time, under the lock, noted as a segment
        // of its process: a process that vanished while scanned has its segments taken out after.
        struct Segment {
            uint32_t proc;
            std::size_t at, n;
        };
        std::vector<Segment> segments;
        std::vector<uint8_t> vanished(procs.size());
        std::atomic<std::size_t> next{0};
        std::atomic<uint64_t> unreadable{0};
        std::mutex lock;
        auto worker = [&] {
            std::vector<PageRef> found;
            found.reserve(kRangePages);
            uint32_t open_proc = UINT32_MAX;
            ProcessPages pages;
            uint64_t unread = 0;
            for (std::size_t k; (k = next.fetch_add(1)) < ranges.size();) {
                const Range& r = ranges[k];
                const Proc& p = procs[r.proc];
                if (__atomic_load_n(&vanished[r.proc], __ATOMIC_RELAXED)) continue;
                if (r.proc != open_proc) {
                    pages = ProcessPages::open(p.pid);
                    open_proc = r.proc;
                }
                found.clear();
                const bool ok = pages && visit_range(
                    p.pid, pages, r.map, r.start, r.end,
                    anon_reads_for(p.maps[r.map], src.ksm_frames_possible && p.mergeable[r.map]),
                    [&](const PageVisit& v) {
                        PageRef ref;
                        ref.hash = page_hash(v.data);
                        ref.pfn = v.pfn;
                        ref.owner = unsigned(p.owner);
                        ref.anon = !v.file_or_shared;  // private anonymous, or a private file page written to (COW)
                        ref.mapcount = v.pfn == 0 ? 0 : v.exclusive ? 1 : 2;  // once, or more (here or elsewhere)
                        ref.zero = ref.hash == zh;
                        ref.mergeable = p.mergeable[v.map_index];
                        ref.part = p.owner == PageOwner::guest ? p.part[v.map_index] : 0;
                        found.push_back(ref);
                    },
                    &unread);
                if (!ok) {
                    __atomic_store_n(&vanished[r.proc], uint8_t(1), __ATOMIC_RELAXED);
                    continue;
                }
                if (found.empty()) continue;
                std::lock_guard<std::mutex> g(lock);
                segments.push_back({r.proc, refs.size(), found.size()});
                for (const PageRef& ref : found) push(refs, ref);
            }
            unreadable += unread;
        };
        on_threads(unsigned(std::clamp<std::size_t>(ranges.size(), 1, threads)), [&](unsigned) { worker(); });
        s.pages_s += double(mono_ns() - p0) / 1e9;
        s.unreadable_pages += unreadable;
        // A process that ended before its scan was over, even after its last page was read (its
        // frames are freed: they would be stale in the index), or whose pid another process took
        // (its pages would have been read under the first one's maps), vanished too.
        for (uint32_t pi = 0; pi < procs.size(); ++pi)
            if (!vanished[pi] && started_at(procs[pi].pid) != procs[pi].started) vanished[pi] = 1;
        // Out with the pages of processes that vanished (their segments, interleaved with the
        // others': segments were noted in the order they were appended, so by `at`).
        bool any_vanished = false;
        for (uint8_t v : vanished) any_vanished |= v != 0;
        if (any_vanished) {
            std::size_t to = segments.empty() ? refs.size() : segments.front().at;
            for (const Segment& g : segments) {
                if (vanished[g.proc]) continue;
                std::move(refs.begin() + std::ptrdiff_t(g.at), refs.begin() + std::ptrdiff_t(g.at + g.n),
                          refs.begin() + std::ptrdiff_t(to));
                to += g.n;
            }
            refs.resize(to);
        }
        for (const Segment& g : segments)
            if (!vanished[g.proc]) s.pages[unsigned(owner)] += g.n;
        for (uint32_t pi = 0; pi < procs.size(); ++pi) {
            if (vanished[pi]) {
                ++s.vanished;
                continue;
            }
            ++s.processes[unsigned(owner)];
        }
    };

    auto say = [&](const std::string& m) {
        if (src.progress) src.progress(m);
    };
    // The index is sized once, from the resident pages the processes report (each mapping's page
    // is one entry, as scanned) and the files' resident pages: growing it by doubling would cost
    // up to twice the memory.
    std::set<pid_t> skip(src.guest.begin(), src.guest.end());
    skip.insert(src.other.begin(), src.other.end());
    skip.insert(self);
    std::vector<pid_t> host_pids;
    if (src.host)
        for (pid_t p : all_pids())
            if (!skip.count(p)) host_pids.push_back(p);
    const uint64_t m0 = mono_ns();
    std::vector<std::vector<Proc>> groups =
        prepare_all({{&src.guest, PageOwner::guest}, {&src.other, PageOwner::other}, {&host_pids, PageOwner::host}});
    s.maps_s = double(mono_ns() - m0) / 1e9;
    // The host's page cache: the files every process maps or holds open (in the groups' order),
    // and which of their windows hold resident pages, found before the scan so that the index is
    // sized once (a second reserve would copy it to fresh memory). The windows are read after it,
    // through the descriptor opened here (the process that gave the way in may end meanwhile);
    // past a quarter of the descriptor limit (the scan needs its own) a file is closed and opened
    // again for the read, and kept only if it is still the same file.
    struct CachedFile {
        std::string via;
        Fd fd;  // held, or closed to be opened again
        uint64_t size = 0;
        dev_t dev = 0;
        ino_t ino = 0;
        std::vector<uint64_t> windows;  // first byte of each window with resident pages
    };
    std::vector<CachedFile> cached_files;
    uint64_t cached = 0;
    if (src.host) {
        const uint64_t f0 = mono_ns();
        for (auto& g : groups)
            for (Proc& p : g) {
                for (const auto& [key, via] : p.mapped_files) note_file(key, via);
                p.mapped_files = {};
                if (started_at(p.pid) == p.started) note_open_files(p);  // not another's under its pid
            }
        rlimit nofile{};
        const std::size_t hold = getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY
                                     ? std::size_t(nofile.rlim_cur / 4)
                                     : 256;
        std::size_t held = 0;
        for (const auto& [key, via] : openers) {
            std::error_code ec;
            s.cache_files.push_back({via, std::filesystem::read_symlink(via, ec).string()});
            auto file = open_cached_file(via);
            if (!file) {
                ++s.files_skipped;
                continue;
            }
            CachedFile f{via, {}, file->size, file->dev, file->ino, {}};
            cached += file_resident_pages(file->fd.get(), file->size, &f.windows);
            if (!f.windows.empty() && held < hold) {
                f.fd = std::move(file->fd);
                ++held;
            }
            cached_files.push_back(std::move(f));
        }
        s.cache_find_s = double(mono_ns() - f0) / 1e9;
    }
    uint64_t expect = cached;
    for (const auto& g : groups)
        for (const Proc& p : g) expect += p.resident;
    refs.reserve(std::size_t(expect));
    prefault(refs);

    scan_group(groups[0], PageOwner::guest);
    say("guest: " + std::to_string(s.pages[0] * kPage >> 20) + " MiB resident in " + std::to_string(s.processes[0]) +
        " processes");
    scan_group(groups[1], PageOwner::other);
    if (!src.other.empty())
        say("second guest: " + std::to_string(s.pages[1] * kPage >> 20) + " MiB in " + std::to_string(s.processes[1]) +
            " processes");
    if (src.host) {
        scan_group(groups[2], PageOwner::host);
        say("host: " + std::to_string(s.pages[2] * kPage >> 20) + " MiB in " + std::to_string(s.processes[2]) +
            " processes");
        const uint64_t c0 = mono_ns();
        std::vector<std::pair<std::size_t, uint64_t>> windows;  // (file, first byte) of the windows with resident pages
        for (std::size_t i = 0; i < cached_files.size(); ++i) {
            CachedFile& f = cached_files[i];
            if (f.windows.empty()) {
                ++s.files;  // opened, nothing resident
                continue;
            }
            if (!f.fd) {
                auto file = open_cached_file(f.via);
                if (!file || file->dev != f.dev || file->ino != f.ino) {
                    ++s.files_skipped;  // its process ended, or the way in leads to another file now
                    continue;
                }
                f.fd = std::move(file->fd);
                f.size = file->size;
            }
            for (uint64_t w : f.windows) windows.push_back({i, w});
            ++s.files;
        }
        // The files' resident windows on every CPU too, 8 at a time.
        constexpr std::size_t kShare = 8;
        std::atomic<std::size_t> next{0};
        std::mutex lock;
        on_threads(unsigned(std::clamp<std::size_t>((windows.size() + kShare - 1) / kShare, 1, threads)), [&](unsigned) {
            const Fd pm = Fd::open_read("/proc/self/pagemap");
            std::vector<PageRef> found;
            for (std::size_t k; (k = next.fetch_add(kShare)) < windows.size();) {
                found.clear();
                for (std::size_t w = k; w < std::min(windows.size(), k + kShare); ++w) {
                    const auto [f, off] = windows[w];
                    visit_cached_pages(
                        cached_files[f].fd.get(), cached_files[f].size, pm.get(),
                        [&](uint64_t hash, uint64_t pfn) {
                            PageRef r;
                            r.hash = hash;
                            r.pfn = pfn;
                            r.owner = unsigned(PageOwner::cache);
                            r.zero = hash == zh;
                            found.push_back(r);
                        },
                        off, off + kCacheWindow);
                }
                std::lock_guard<std::mutex> g(lock);
                for (const PageRef& r : found) push(refs, r);
                s.pages[3] += found.size();
            }
        });
        s.cache_s = double(mono_ns() - c0) / 1e9;
        cached_files.clear();  // their descriptors closed
        say("host page cache: " + std::to_string(s.pages[3] * kPage >> 20) + " MiB resident in " +
            std::to_string(s.files) + " files");
    }
    s.scan_s = double(mono_ns() - t0) / 1e9;
    return refs;
}

std::vector<uint64_t> hash_file_blocks(const std::string& dir, uint64_t* nfiles, uint64_t* nbytes) {
    std::vector<uint64_t> out;
    std::vector<char> buf(1 << 20);
    std::error_code ec;
    for (auto it = std::filesystem::recursive_directory_iterator(
             dir, std::filesystem::directory_options::skip_permission_denied, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
        if (!it->is_regular_file(ec) || it->is_symlink(ec)) continue;
        const Fd fd = Fd::open_read(it->path(), O_NOATIME);
        if (!fd) continue;
        if (nfiles) ++*nfiles;
        for (;;) {
            ssize_t got = read(fd.get(), buf.data(), buf.size());
            if (got <= 0) break;
            if (nbytes) *nbytes += uint64_t(got);
            std::size_t n = std::size_t(got);
            if (n % kPage) {  // the file's last page: the page cache pads it with zeros
                std::size_t pad = kPage - n % kPage;
                std::fill(buf.data() + n, buf.data() + n + pad, 0);
                n += pad;
            }
            for (std::size_t o = 0; o < n; o += kPage) out.push_back(page_hash(buf.data() + o));
        }
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

}  // namespace ht

namespace ht {

std::vector<std::pair<std::string, uint64_t>> pages_in_files(const std::vector<std::pair<std::string, std::string>>& files,
                                                             const std::vector<uint64_t>& sorted_hashes,
                                                             const std::vector<uint64_t>& skip_pfns) {
    std::map<std::string, uint64_t> by_name;
    if (sorted_hashes.empty()) return {};
    const Fd self_pm = Fd::open_read("/proc/self/pagemap");
    for (const auto& [via, name] : files) {
        const auto file = open_cached_file(via);
        if (!file) continue;
        uint64_t n = 0;
        visit_cached_pages(file->fd.get(), file->size, self_pm.get(), [&](uint64_t hash, uint64_t pfn) {
            n += std::binary_search(sorted_hashes.begin(), sorted_hashes.end(), hash) &&
                 !std::binary_search(skip_pfns.begin(), skip_pfns.end(), pfn);
        });
        if (n) by_name[name.empty() ? via : name] += n;
    }
    std::vector<std::pair<std::string, uint64_t>> out(by_name.begin(), by_name.end());
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
    return out;
}

}  // namespace ht
