// SPDX-License-Identifier: MIT
// Follows the files a guest writes its console to (QEMU serial/debugcon files, LXC's console
// log, a native process's file) and timestamps marker lines on CLOCK_MONOTONIC when they arrive.
// One inotify watch on the directory wakes the reader on every write, so the timestamp is taken
// within microseconds of the guest's write reaching the host.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ht {

struct MarkerSpec {
    std::string stream;   // name of the file's role ("console", "firmware")
    std::string pattern;  // substring to look for
    std::string mark;     // name of the milestone it marks ("ready", "init", ...)
};

struct MarkerHit {
    std::string mark;
    uint64_t ts_ns = 0;
    std::string stream;
};

class ConsoleWatcher {
public:
    // `dir` holds the files; each stream is a file name inside it.
    ConsoleWatcher(std::filesystem::path dir, std::map<std::string, std::string> stream_files,
                   std::vector<MarkerSpec> markers);
    ~ConsoleWatcher();
    ConsoleWatcher(const ConsoleWatcher&) = delete;
    ConsoleWatcher& operator=(const ConsoleWatcher&) = delete;

    int fd() const { return inotify_fd_; }
    // Drains inotify and reads what was appended; call when fd() is readable, or periodically.
    void poll();
    std::optional<MarkerHit> hit(const std::string& mark) const;
    const std::vector<MarkerHit>& hits() const { return hits_; }
    // The last `max_bytes` of a stream, for error messages.
    std::string tail(const std::string& stream, std::size_t max_bytes = 400) const;

    // Pure part, for tests: feed text of a stream as if read at time ts.
    void feed(const std::string& stream, const std::string& text, uint64_t ts_ns);

private:
    std::filesystem::path dir_;
    std::map<std::string, std::string> files_;
    std::vector<MarkerSpec> markers_;
    std::map<std::string, uint64_t> offsets_;
    std::map<std::string, std::string> pending_;  // partial line carried over per stream
    std::map<std::string, std::string> tails_;
    std::vector<MarkerHit> hits_;
    int inotify_fd_ = -1;
};

}  // namespace ht
