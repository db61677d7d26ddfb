// SPDX-License-Identifier: MIT
#include "core/host/console.h"

#include "core/base/clock.h"
#include "core/base/error.h"

#include <cerrno>
#include <fcntl.h>
#include <sys/inotify.h>
#include <unistd.h>

namespace ht {

ConsoleWatcher::ConsoleWatcher(std::filesystem::path dir, std::map<std::string, std::string> stream_files,
                               std::vector<MarkerSpec> markers)
    : dir_(std::move(dir)), files_(std::move(stream_files)), markers_(std::move(markers)) {
    inotify_fd_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (inotify_fd_ < 0) throw std::runtime_error(errno_text("inotify_init1", errno));
    if (inotify_add_watch(inotify_fd_, dir_.c_str(), IN_MODIFY | IN_CREATE | IN_CLOSE_WRITE) < 0) {
        int err = errno;
        close(inotify_fd_);
        throw std::runtime_error(errno_text("inotify_add_watch " + dir_.string(), err));
    }
}

ConsoleWatcher::~ConsoleWatcher() {
    if (inotify_fd_ >= 0) close(inotify_fd_);
}

void ConsoleWatcher::poll() {
    char buf[4096];
    while (read(inotify_fd_, buf, sizeof buf) > 0) {
    }
    uint64_t now = mono_ns();
    for (const auto& [stream, name] : files_) {
        int fd = open((dir_ / name).c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) continue;
        uint64_t& off = offsets_[stream];
        std::string data;
        for (;;) {
            ssize_t n = pread(fd, buf, sizeof buf, off_t(off));
            if (n <= 0) break;
            data.append(buf, size_t(n));
            off += uint64_t(n);
        }
        close(fd);
        if (!data.empty()) feed(stream, data, now);
    }
}

void ConsoleWatcher::feed(const std::string& stream, const std::string& text, uint64_t ts_ns) {
    std::string& tail = tails_[stream];
    tail += text;
    if (tail.size() > 4096) tail.erase(0, tail.size() - 4096);
    // Match on pending + text so that a marker split across two reads is still found; keep only
    // a marker-length suffix as pending.
    std::string& pend = pending_[stream];
    std::string window = pend + text;
    std::size_t longest = 0;
    for (const auto& m : markers_) {
        if (m.stream != stream) continue;
        longest = std::max(longest, m.pattern.size());
        if (hit(m.mark)) continue;
        if (window.find(m.pattern) != std::string::npos) hits_.push_back({m.mark, ts_ns, stream});
    }
    pend = window.size() > longest ? window.substr(window.size() - longest) : window;
}

std::optional<MarkerHit> ConsoleWatcher::hit(const std::string& mark) const {
    for (const auto& h : hits_)
        if (h.mark == mark) return h;
    return std::nullopt;
}

std::string ConsoleWatcher::tail(const std::string& stream, std::size_t max_bytes) const {
    auto it = tails_.find(stream);
    if (it == tails_.end()) return {};
    const std::string& t = it->second;
    return t.size() > max_bytes ? t.substr(t.size() - max_bytes) : t;
}

}  // namespace ht
